"""The order services the support assistant needs beyond the order page's buttons: a new shipping address before
shipment, returns within the return window, and the invoice sent again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.errors import Conflict, NotFound, ValidationFailed
from patron.orders import services
from patron.orders.models import Order, OrderEmail, OrderStatus, ReturnStatus, Shipment
from tests.factories import make_product
from tests.order_factories import make_order, pay
from tests.servers import Inbox

pytestmark = pytest.mark.django_db

NEW_ADDRESS = {
    "full_name": "Ada King",
    "line1": "12 Ockham Park",
    "city": "Ripley",
    "postal_code": "GU23 6NG",
    "country": "gb",
}


@pytest.fixture
def variant() -> Variant:
    return make_product("Kettle", price="20.00", stock=5).variants.get()


def _paid(variant: Variant, user: User) -> Order:
    """Paid with the test card and marked paid, as the payment's subscriber does."""
    order = make_order([(variant, 2)], user=user)
    return services.mark_paid(order.pk, pay(order).pk)


def _delivered(variant: Variant, user: User, staff: User) -> Order:
    order = _paid(variant, user)
    services.add_shipment(order, carrier="Parcelo", tracking_number=f"P{order.pk}", actor=staff)
    services.transition(order, OrderStatus.DELIVERED, actor=staff)
    order.refresh_from_db()
    return order


def test_the_owner_changes_the_address_before_shipment_and_the_history_says_so(
    variant: Variant, customer: User, immediate_tasks: None
) -> None:
    order = _paid(variant, customer)
    assert order.status == OrderStatus.PAID

    services.change_shipping_address(order, NEW_ADDRESS, actor=customer)

    order.refresh_from_db()
    assert order.shipping_address["line1"] == "12 Ockham Park"
    assert order.shipping_address["country"] == "GB"
    assert order.history.filter(note="shipping address changed", actor=customer).exists()


def test_a_shipped_order_keeps_its_address(
    variant: Variant, customer: User, staff: User, immediate_tasks: None
) -> None:
    order = _paid(variant, customer)
    services.add_shipment(order, carrier="Parcelo", tracking_number="P1", actor=staff)

    with pytest.raises(Conflict):
        services.change_shipping_address(order, NEW_ADDRESS, actor=customer)
    order.refresh_from_db()
    assert order.shipping_address["line1"] == "1 Analytical Way"


def test_someone_elses_order_and_a_bad_address_are_refused(variant: Variant, customer: User) -> None:
    order = make_order([(variant, 1)], user=customer)
    stranger = make_user("eve@example.com")
    with pytest.raises(NotFound):
        services.change_shipping_address(order, NEW_ADDRESS, actor=stranger)
    with pytest.raises(ValidationFailed) as refused:
        services.change_shipping_address(order, {**NEW_ADDRESS, "city": ""}, actor=customer)
    assert "city" in refused.value.fields


def test_a_return_of_a_delivered_order_within_the_window(
    variant: Variant, customer: User, staff: User, immediate_tasks: None
) -> None:
    order = _delivered(variant, customer, staff)
    line = order.lines.get()

    request = services.start_return(order, actor=customer, lines={line.pk: 1}, reason="too small")

    assert request.status == ReturnStatus.REQUESTED
    assert request.lines == [{"line_id": line.pk, "quantity": 1}]
    assert services.returnable_quantities(order) == {line.pk: 1}
    # The rest, then nothing is left to return.
    services.start_return(order, actor=customer)
    with pytest.raises(ValidationFailed):
        services.start_return(order, actor=customer)


def test_returns_are_refused_before_delivery_and_after_the_window(
    variant: Variant, customer: User, staff: User, settings: Settings, immediate_tasks: None
) -> None:
    paid = _paid(variant, customer)
    with pytest.raises(Conflict) as early:
        services.start_return(paid, actor=customer)
    assert early.value.code == "not_delivered"

    order = _delivered(variant, customer, staff)
    Shipment.objects.filter(order=order).update(delivered_at=timezone.now() - timedelta(days=31))
    settings.ORDER_RETURN_WINDOW_DAYS = 30
    with pytest.raises(Conflict) as late:
        services.start_return(order, actor=customer)
    assert late.value.code == "return_window_closed"


def test_the_invoice_goes_again_to_the_orders_address_once_an_hour(
    variant: Variant, customer: User, smtp_inbox: Inbox, immediate_tasks: None
) -> None:
    order = _paid(variant, customer)
    smtp_inbox.messages.clear()

    assert services.resend_invoice(order, actor=customer) is True
    assert services.resend_invoice(order, actor=customer) is False

    assert [message["To"] for message in smtp_inbox.messages] == ["ada@example.com"]
    assert order.number in smtp_inbox.messages[0]["Subject"]
    assert OrderEmail.objects.filter(order=order, key__startswith="invoice:").count() == 1


def test_an_unpaid_order_has_no_invoice(variant: Variant, customer: User) -> None:
    order = make_order([(variant, 1)], user=customer)
    with pytest.raises(Conflict):
        services.resend_invoice(order, actor=customer)
