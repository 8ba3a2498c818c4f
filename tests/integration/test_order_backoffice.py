"""Orders in the back-office: read-only records, status changes only through actions that call the services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.orders import services
from patron.orders.models import Order, OrderStatus, OrderStatusChange
from patron.payments.models import PaymentStatus
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


@pytest.fixture
def staff() -> User:
    return make_user("staff@example.com", name="Sam Staff", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def variant() -> Variant:
    return make_product("Kettle", price="20.00", stock=10).variants.get()


def _paid(variant: Variant) -> Order:
    order = make_order([(variant, 2)], user=make_user(f"buyer{variant.stock}@example.com"))
    services.mark_paid(order.pk, pay(order).pk)
    order.refresh_from_db()
    return order


def _act(client: Client, action: str, *orders: Order) -> Any:
    return client.post(CHANGELIST, {"action": action, "_selected_action": [o.pk for o in orders]}, follow=True)


def test_list_search_filter_and_a_read_only_page(staff_client: Client, variant: Variant) -> None:
    order = _paid(variant)
    other = make_order([(variant, 1)], email="someone@example.com")
    found = staff_client.get(CHANGELIST, {"q": order.number}).content.decode()
    assert order.number in found and other.number not in found
    paid = staff_client.get(CHANGELIST, {"status__exact": "paid"}).content.decode()
    assert order.number in paid and other.number not in paid

    page = staff_client.get(f"{CHANGELIST}{order.pk}/change/").content.decode()
    assert "Kettle" in page and "status history" in page.lower() and "succeeded" in page.lower()
    assert 'name="status"' not in page
    # Posting the change form cannot change the status.
    staff_client.post(f"{CHANGELIST}{order.pk}/change/", {"status": "delivered"})
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_actions_go_through_the_services(staff_client: Client, staff: User, variant: Variant) -> None:
    order = _paid(variant)
    _act(staff_client, "mark_processing", order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PROCESSING
    change = OrderStatusChange.objects.filter(order=order).latest("at", "id")
    assert (change.from_status, change.to_status, change.actor) == (OrderStatus.PAID, OrderStatus.PROCESSING, staff)

    refused = _act(staff_client, "mark_delivered", order).content.decode()
    assert "cannot become delivered" in refused

    redirect = staff_client.post(CHANGELIST, {"action": "mark_shipped", "_selected_action": [order.pk]})
    assert redirect["Location"] == f"{CHANGELIST}{order.pk}/ship/"
    form = {"carrier": "Parcelo", "tracking_number": "PX-5", "tracking_url": "https://t.example/PX-5"}
    assert staff_client.post(f"{CHANGELIST}{order.pk}/ship/", form).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    shipment = order.shipments.get()

    track = f"{CHANGELIST}{order.pk}/shipments/{shipment.pk}/track/"
    assert "Add a tracking event" in staff_client.get(f"/admin/orders/shipment/{shipment.pk}/change/").content.decode()
    staff_client.post(
        track, {"at": datetime(2026, 1, 2, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S"), "status": "delivered"}
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED

    _act(staff_client, "refund_in_full", order)
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.payments.get().status == PaymentStatus.REFUNDED


def test_cancel_action_restores_stock(staff_client: Client, variant: Variant) -> None:
    order = _paid(variant)
    _act(staff_client, "cancel", order)
    order.refresh_from_db()
    variant.refresh_from_db()
    assert (order.status, variant.stock) == (OrderStatus.CANCELLED, 10)
    assert order.payments.get().status == PaymentStatus.REFUNDED


def test_shipping_form_shows_service_errors(staff_client: Client, variant: Variant) -> None:
    order = make_order([(variant, 1)])
    page = staff_client.post(f"{CHANGELIST}{order.pk}/ship/", {"carrier": "Parcelo", "tracking_number": "PX"})
    assert page.status_code == 200
    assert "cannot be shipped" in page.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
