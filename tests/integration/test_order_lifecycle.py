"""The order state machine and what hangs on it: history, events, payment, cancellation, refunds, expiry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from patron import events
from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from patron.orders import services
from patron.orders.models import Order, OrderStatus, OrderStatusChange, Shipment
from patron.payments.models import PaymentStatus
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db

S = OrderStatus
CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture
def variant() -> Variant:
    return make_product("Kettle", price="20.00", stock=5).variants.get()


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[events.Event]]:
    """Events as they are dispatched (after commit); run the captured callbacks to see them."""
    seen: list[events.Event] = []
    monkeypatch.setattr(events, "dispatch", seen.append)
    yield seen


def _order_in(status: str, variant: Variant, user: User | None) -> Order:
    order = make_order([(variant, 2)], user=user)
    Order.objects.filter(pk=order.pk).update(status=status)
    if status in (S.PAID, S.PROCESSING, S.SHIPPED, S.DELIVERED):
        Shipment.objects.create(order=order, carrier="Parcelo", tracking_number=f"P-{order.pk}")
    order.refresh_from_db()
    return order


ALL_PAIRS = [(a, b) for a in S.values for b in S.values]


@pytest.mark.parametrize(("from_status", "to_status"), ALL_PAIRS)
def test_every_transition_is_allowed_or_refused_by_the_table(
    from_status: str, to_status: str, staff: User, customer: User, variant: Variant
) -> None:
    order = _order_in(from_status, variant, customer)
    before = OrderStatusChange.objects.filter(order=order).count()

    if services.can_transition(from_status, to_status):
        result = services.transition(order, to_status, actor=staff, note="by the book")
        assert result.status == to_status
        assert Order.objects.get(pk=order.pk).status == to_status
        change = OrderStatusChange.objects.filter(order=order).latest("at", "id")
        assert (change.from_status, change.to_status, change.actor) == (from_status, to_status, staff)
        assert "by the book" in change.note
    else:
        with pytest.raises(Conflict) as caught:
            services.transition(order, to_status, actor=staff, note="by the book")
        assert S(from_status).label.lower() in caught.value.message
        assert S(to_status).label.lower() in caught.value.message
        assert Order.objects.get(pk=order.pk).status == from_status
        assert OrderStatusChange.objects.filter(order=order).count() == before


def test_the_table_is_the_lifecycle() -> None:
    assert services.TRANSITIONS[S.PENDING_PAYMENT] == {S.PAID, S.CANCELLED}
    assert services.TRANSITIONS[S.SHIPPED] == {S.DELIVERED, S.REFUNDED}
    assert not services.TRANSITIONS[S.CANCELLED] and not services.TRANSITIONS[S.REFUNDED]


def test_only_staff_move_orders(customer: User, variant: Variant) -> None:
    order = make_order([(variant, 1)], user=customer)
    with pytest.raises(PermissionDenied):
        services.transition(order, S.PAID, actor=customer)
    with pytest.raises(NotAuthenticated):
        services.transition(order, S.PAID, actor=None)


def test_shipping_without_a_shipment_is_refused(staff: User, variant: Variant) -> None:
    order = make_order([(variant, 1)])
    Order.objects.filter(pk=order.pk).update(status=S.PROCESSING)
    with pytest.raises(Conflict) as caught:
        services.transition(order, S.SHIPPED, actor=staff)
    assert caught.value.code == "no_shipment"


def test_transitions_publish_their_events_after_commit(
    staff: User,
    variant: Variant,
    published: list[events.Event],
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = make_order([(variant, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        services.transition(order, S.PAID, actor=staff)
        services.transition(order, S.PROCESSING, actor=staff)
        shipment = services.add_shipment(order, carrier="Parcelo", tracking_number="P1", actor=staff)
        services.transition(order, S.DELIVERED, actor=staff)
    assert [e for e in published if isinstance(e, events.OrderPaid | events.OrderShipped | events.OrderDelivered)] == [
        events.OrderPaid(order_id=order.pk),
        events.OrderShipped(order_id=order.pk, shipment_id=shipment.pk),
        events.OrderDelivered(order_id=order.pk),
    ]
    shipment.refresh_from_db()
    assert shipment.delivered_at is not None


def test_a_succeeded_payment_marks_the_order_paid_once(
    customer: User,
    variant: Variant,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = make_order([(variant, 2)], user=customer)
    with django_capture_on_commit_callbacks(execute=True):
        payment = pay(order)
    order.refresh_from_db()
    assert order.status == S.PAID
    paid = OrderStatusChange.objects.get(order=order, to_status=S.PAID)
    assert paid.actor is None and paid.note == f"payment {payment.pk}"

    # A redelivered event (or a retried task) changes nothing.
    again = services.mark_paid(order.pk, payment.pk)
    assert again.status == S.PAID
    assert OrderStatusChange.objects.filter(order=order, to_status=S.PAID).count() == 1


def test_mark_paid_needs_a_payment_of_that_order(customer: User, variant: Variant) -> None:
    order = make_order([(variant, 1)], user=customer)
    other = make_order([(variant, 1)], user=customer)
    payment = pay(other)
    with pytest.raises(NotFound):
        services.mark_paid(order.pk, payment.pk)


def test_cancel_restores_stock_and_refunds_the_payment(
    customer: User,
    variant: Variant,
    published: list[events.Event],
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = make_order([(variant, 2)], user=customer)
    payment = pay(order)
    services.mark_paid(order.pk, payment.pk)
    variant.refresh_from_db()
    assert variant.stock == 3

    with django_capture_on_commit_callbacks(execute=True):
        cancelled = services.cancel_order(order, actor=customer, note="changed my mind")

    assert cancelled.status == S.CANCELLED
    variant.refresh_from_db()
    assert variant.stock == 5
    assert variant.product.__class__.objects.get(pk=variant.product_id).total_stock == 5
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded == order.total
    change = OrderStatusChange.objects.filter(order=order).latest("at", "id")
    assert (change.from_status, change.to_status, change.actor, change.note) == (
        S.PAID,
        S.CANCELLED,
        customer,
        "changed my mind",
    )
    assert events.OrderCancelled(order_id=order.pk) in published
    assert any(isinstance(e, events.PaymentRefunded) and e.amount == "45.00" for e in published)


def test_cancel_is_for_the_owner_or_staff_and_before_shipment(customer: User, staff: User, variant: Variant) -> None:
    order = make_order([(variant, 1)], user=customer)
    stranger = make_user("eve@example.com")
    with pytest.raises(NotFound):
        services.cancel_order(order, actor=stranger)
    with pytest.raises(NotAuthenticated):
        services.cancel_order(order, actor=None)

    shipped = _order_in(S.SHIPPED, variant, customer)
    with pytest.raises(Conflict) as caught:
        services.cancel_order(shipped, actor=staff)
    assert "shipped" in caught.value.message and "cancelled" in caught.value.message

    assert services.cancel_order(order, actor=staff).status == S.CANCELLED


def test_partial_then_full_refund(customer: User, staff: User, variant: Variant) -> None:
    order = make_order([(variant, 2)], user=customer)  # 40.00 + 5.00 shipping
    payment = pay(order)
    services.mark_paid(order.pk, payment.pk)

    services.refund_order(order, Decimal("10.00"), actor=staff, note="scratched box")
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == S.PAID
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("10.00"))
    logged = OrderStatusChange.objects.filter(order=order).latest("at", "id")
    assert (logged.from_status, logged.to_status, logged.actor) == (S.PAID, S.PAID, staff)
    assert logged.note == "refunded 10.00 USD: scratched box"

    with pytest.raises(ValidationFailed) as too_much:
        services.refund_order(order, Decimal("35.01"), actor=staff)
    assert too_much.value.fields == {"amount": ["At most 35.00 USD can be refunded."]}
    with pytest.raises(ValidationFailed):
        services.refund_order(order, Decimal("0"), actor=staff)
    with pytest.raises(PermissionDenied):
        services.refund_order(order, Decimal("1.00"), actor=customer)

    services.refund_order(order, Decimal("35.00"), actor=staff)
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == S.REFUNDED
    assert payment.status == PaymentStatus.REFUNDED
    # The goods were not returned by a refund alone: stock stays sold.
    variant.refresh_from_db()
    assert variant.stock == 3


def test_refunding_an_unpaid_order_is_refused(staff: User, variant: Variant) -> None:
    order = make_order([(variant, 1)])
    with pytest.raises(Conflict):
        services.refund_order(order, Decimal("1.00"), actor=staff)


def test_unpaid_orders_expire_once(variant: Variant, settings: Any) -> None:
    settings.ORDER_PAYMENT_TIMEOUT_MINUTES = 30
    now = timezone.now()
    stale = make_order([(variant, 2)], placed_at=now - timedelta(minutes=31))
    fresh = make_order([(variant, 1)], placed_at=now - timedelta(minutes=29))
    paid = make_order([(variant, 1)], placed_at=now - timedelta(hours=2))
    services.mark_paid(paid.pk, pay(paid).pk)
    variant.refresh_from_db()
    assert variant.stock == 1

    assert services.expire_unpaid_orders(now) == 1
    assert services.expire_unpaid_orders(now) == 0

    stale.refresh_from_db()
    fresh.refresh_from_db()
    paid.refresh_from_db()
    assert (stale.status, fresh.status, paid.status) == (S.CANCELLED, S.PENDING_PAYMENT, S.PAID)
    change = OrderStatusChange.objects.filter(order=stale).latest("at", "id")
    assert (change.actor, change.note) == (None, "payment not received")
    variant.refresh_from_db()
    assert variant.stock == 3

    # Later, the fresh one has waited too long as well.
    assert services.expire_unpaid_orders(now + timedelta(minutes=2)) == 1
    variant.refresh_from_db()
    assert variant.stock == 4
