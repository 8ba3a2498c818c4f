"""Cancelling or expiring an unpaid order voids its open Stripe PaymentIntent, against a local stand-in for Stripe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import stripe
from crontask import scheduler
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.models import User
from patron.catalog.models import Variant
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus
from patron.payments import tasks as payment_tasks
from patron.payments.models import Payment, PaymentEvent, PaymentEventKind, PaymentStatus
from patron.payments.providers import CardInput
from patron.payments.services import PaymentDeclined, PaymentUnavailable, retry_voids, start_payment
from patron.payments.testing import (
    STUB_SECRET_KEY,
    STUB_WEBHOOK_SECRET,
    StripeStub,
    StubRequest,
    deliver_webhook,
    running_stripe_stub,
    stripe_event,
)
from tests.factories import make_product
from tests.order_factories import make_order
from tests.servers import free_port

pytestmark = pytest.mark.django_db

S = OrderStatus
OUTAGE = (500, {"error": {"type": "api_error", "message": "Something went wrong"}})


@pytest.fixture(autouse=True)
def _stripe_settings(settings: Settings) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = STUB_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = STUB_WEBHOOK_SECRET
    settings.ORDER_PAYMENT_TIMEOUT_MINUTES = 30


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    with running_stripe_stub() as running:
        yield running


@pytest.fixture
def variant() -> Variant:
    return make_product("Kettle", price="20.00", stock=5).variants.get()


def awaiting(variant: Variant, user: User | None = None, *, minutes_ago: int = 0) -> tuple[Order, Payment]:
    """An order of two kettles (45.00 with shipping) whose PaymentIntent waits for the shopper's browser."""
    order = make_order([(variant, 2)], user=user, placed_at=timezone.now() - timedelta(minutes=minutes_ago))
    payment = start_payment(order, card=None, idempotency_key=f"checkout-{order.number}")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    return order, payment


def cancels(stub: StripeStub, payment: Payment) -> list[StubRequest]:
    return stub.posted(f"/v1/payment_intents/{payment.provider_reference}/cancel")


def kinds(payment: Payment) -> list[str]:
    return list(payment.events.values_list("kind", flat=True))


def stock(variant: Variant) -> int:
    variant.refresh_from_db()
    return variant.stock


def intent_payload(payment: Payment, **fields: Any) -> dict[str, Any]:
    return {"id": payment.provider_reference, "object": "payment_intent", "amount": int(payment.amount * 100), **fields}


def test_expiry_cancels_the_open_intent_once_and_records_it(stub: StripeStub, variant: Variant) -> None:
    order, payment = awaiting(variant, minutes_ago=31)
    assert stock(variant) == 3

    assert orders.expire_unpaid_orders() == 1
    assert orders.expire_unpaid_orders() == 0

    [sent] = cancels(stub, payment)
    assert sent.params == {"cancellation_reason": "abandoned"}
    assert sent.headers["idempotency-key"] == f"{payment.idempotency_key}:cancel:1"
    assert sent.headers["authorization"] == f"Bearer {STUB_SECRET_KEY}"
    assert stub.intents[payment.provider_reference]["status"] == "canceled"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == S.CANCELLED
    assert stock(variant) == 5
    assert payment.status == PaymentStatus.CANCELED
    assert kinds(payment) == ["created", "requires_action", "canceled"]
    voided = payment.events.get(kind=PaymentEventKind.CANCELED)
    assert voided.data["reason"] == "payment not received"
    assert voided.data["reference"] == payment.provider_reference
    assert voided.data["stripe_status"] == "canceled"
    assert voided.data["cancellation_reason"] == "abandoned"


def test_the_shopper_cancelling_an_unpaid_order_cancels_its_intent(
    stub: StripeStub, variant: Variant, customer: User
) -> None:
    order, payment = awaiting(variant, customer)

    cancelled = orders.cancel_order(order, actor=customer, note="changed my mind")

    assert cancelled.status == S.CANCELLED
    assert stock(variant) == 5
    [sent] = cancels(stub, payment)
    assert sent.params == {"cancellation_reason": "abandoned"}
    assert sent.headers["idempotency-key"] == f"{payment.idempotency_key}:cancel:1"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert payment.events.get(kind=PaymentEventKind.CANCELED).data["reason"] == "changed my mind"
    assert not stub.posted("/v1/refunds")


def test_a_paid_order_is_refunded_as_before_and_nothing_is_cancelled(
    stub: StripeStub, variant: Variant, customer: User, client: Client
) -> None:
    order, payment = awaiting(variant, customer)
    stub.set_status(payment.provider_reference, "succeeded")
    paid = stripe_event("payment_intent.succeeded", intent_payload(payment, amount_received=4500), event_id="evt_paid")
    assert deliver_webhook(client, paid).status_code == 200
    orders.mark_paid(order.pk, payment.pk)

    orders.cancel_order(order, actor=customer, note="changed my mind")

    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == S.CANCELLED
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, Decimal("45.00"))
    [refund] = stub.posted("/v1/refunds")
    assert refund.params == {"payment_intent": payment.provider_reference, "amount": "4500"}
    assert not [r for r in stub.requests if r.path.endswith("/cancel")]
    assert not payment.events.filter(kind__in=[PaymentEventKind.CANCELED, PaymentEventKind.CANCEL_FAILED]).exists()


def test_cancelling_a_paid_order_voids_a_second_open_intent_and_refunds_the_first(
    stub: StripeStub, variant: Variant, customer: User, client: Client
) -> None:
    order, first = awaiting(variant, customer)
    second = start_payment(order, card=None, idempotency_key="second-tab")
    paid = stripe_event("payment_intent.succeeded", intent_payload(first, amount_received=4500), event_id="evt_first")
    assert deliver_webhook(client, paid).status_code == 200
    orders.mark_paid(order.pk, first.pk)

    orders.cancel_order(order, actor=customer)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (PaymentStatus.REFUNDED, PaymentStatus.CANCELED)
    assert [r.params["payment_intent"] for r in stub.posted("/v1/refunds")] == [first.provider_reference]
    assert cancels(stub, first) == []
    assert len(cancels(stub, second)) == 1


def test_a_payment_completed_at_the_last_second_is_recorded_and_its_webhook_refunds_it(
    stub: StripeStub, variant: Variant, customer: User, client: Client
) -> None:
    order, payment = awaiting(variant, customer)
    # The shopper's browser confirms the intent; Stripe's webhook is still on its way.
    stub.set_status(payment.provider_reference, "succeeded")

    orders.cancel_order(order, actor=customer, note="changed my mind")

    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == S.CANCELLED
    assert stock(variant) == 5
    assert len(cancels(stub, payment)) == 1
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    late = payment.events.get(kind=PaymentEventKind.CANCEL_FAILED)
    assert late.data["provider_status"] == "succeeded"
    assert late.data["too_late"] is True
    assert late.data["stripe_error"] == "payment_intent_unexpected_state"
    # Nothing to retry: the money is Stripe's webhook's business.
    assert retry_voids() == 0
    assert len(cancels(stub, payment)) == 1

    succeeded = stripe_event(
        "payment_intent.succeeded", intent_payload(payment, amount_received=4500), event_id="evt_last_second"
    )
    assert deliver_webhook(client, succeeded).status_code == 200

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, Decimal("45.00"))
    [refund] = stub.posted("/v1/refunds")
    assert refund.params == {"payment_intent": payment.provider_reference, "amount": "4500"}
    assert payment.events.get(kind=PaymentEventKind.REFUNDED).data["reason"] == (
        "The order was cancelled before the payment completed."
    )
    assert kinds(payment) == ["created", "requires_action", "cancel_failed", "webhook", "succeeded", "refunded"]


def test_a_payment_processing_at_cancel_time_is_voided_once_its_decline_arrives(
    stub: StripeStub, variant: Variant, customer: User, client: Client
) -> None:
    order, payment = awaiting(variant, customer)
    stub.set_status(payment.provider_reference, "processing")

    orders.cancel_order(order, actor=customer)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.events.get(kind=PaymentEventKind.CANCEL_FAILED).data["provider_status"] == "processing"

    # The bank declines: Stripe reopens the intent for another card and says so.
    stub.set_status(payment.provider_reference, "requires_payment_method")
    error = {"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}
    failed = stripe_event(
        "payment_intent.payment_failed", intent_payload(payment, last_payment_error=error), event_id="evt_declined"
    )
    assert deliver_webhook(client, failed).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert [r.headers["idempotency-key"] for r in cancels(stub, payment)] == [
        f"{payment.idempotency_key}:cancel:1",
        f"{payment.idempotency_key}:cancel:2",
    ]
    assert stub.intents[payment.provider_reference]["status"] == "canceled"
    assert kinds(payment) == ["created", "requires_action", "cancel_failed", "webhook", "failed", "canceled"]
    assert not stub.posted("/v1/refunds")


@pytest.mark.parametrize("outage", ["connection_refused", "server_error"])
def test_an_unreachable_stripe_does_not_stop_expiry_and_the_void_is_retried(
    stub: StripeStub, variant: Variant, outage: str
) -> None:
    order, payment = awaiting(variant, minutes_ago=31)

    if outage == "server_error":
        stub.fail_next = OUTAGE
        assert orders.expire_unpaid_orders() == 1
    else:
        stripe.api_base = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        try:
            assert orders.expire_unpaid_orders() == 1
        finally:
            stripe.api_base = stub.base_url

    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == S.CANCELLED
    assert not order.stock_reserved
    assert stock(variant) == 5
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    failed = payment.events.get(kind=PaymentEventKind.CANCEL_FAILED)
    assert failed.data["error"]
    assert failed.data["idempotency_key"] == f"{payment.idempotency_key}:cancel:1"
    assert "too_late" not in failed.data

    # Stripe is back: the scheduled retry voids the intent, under a key of its own.
    assert retry_voids() == 1
    assert retry_voids() == 0
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert stub.intents[payment.provider_reference]["status"] == "canceled"
    assert [r.headers["idempotency-key"] for r in cancels(stub, payment)][-1] == f"{payment.idempotency_key}:cancel:2"
    assert kinds(payment) == ["created", "requires_action", "cancel_failed", "canceled"]


def test_the_canceled_webhook_is_recorded_once(stub: StripeStub, variant: Variant, client: Client) -> None:
    order, payment = awaiting(variant)
    # Cancelled in Stripe's dashboard, not by the store.
    stub.set_status(payment.provider_reference, "canceled")
    payload = stripe_event(
        "payment_intent.canceled",
        intent_payload(payment, status="canceled", cancellation_reason="requested_by_customer"),
        event_id="evt_canceled_1",
    )

    for _ in range(2):
        assert deliver_webhook(client, payload).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert kinds(payment) == ["created", "requires_action", "webhook", "canceled"]
    assert PaymentEvent.objects.filter(provider_event_id="evt_canceled_1").count() == 1
    voided = payment.events.get(kind=PaymentEventKind.CANCELED)
    assert voided.data == {
        "reference": payment.provider_reference,
        "cancellation_reason": "requested_by_customer",
        "source": "webhook",
    }
    order.refresh_from_db()
    assert order.status == S.PENDING_PAYMENT


def test_the_canceled_webhook_after_our_own_void_adds_only_its_receipt(
    stub: StripeStub, variant: Variant, customer: User, client: Client
) -> None:
    order, payment = awaiting(variant, customer)
    orders.cancel_order(order, actor=customer)
    payload = stripe_event(
        "payment_intent.canceled",
        intent_payload(payment, status="canceled", cancellation_reason="abandoned"),
        event_id="evt_canceled_ours",
    )

    for _ in range(2):
        assert deliver_webhook(client, payload).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert kinds(payment) == ["created", "requires_action", "canceled", "webhook"]


def test_an_intent_cancelled_before_is_recorded_as_voided(stub: StripeStub, variant: Variant, customer: User) -> None:
    order, payment = awaiting(variant, customer)
    stub.set_status(payment.provider_reference, "canceled")

    orders.cancel_order(order, actor=customer)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert payment.events.get(kind=PaymentEventKind.CANCELED).data["stripe_status"] == "canceled"


def test_a_payment_that_never_reached_stripe_is_voided_without_asking_it(
    stub: StripeStub, variant: Variant, customer: User
) -> None:
    order = make_order([(variant, 1)], user=customer)
    stub.fail_next = OUTAGE
    with pytest.raises(PaymentUnavailable):
        start_payment(order, card=None, idempotency_key="never-answered")
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.provider_reference) == (PaymentStatus.PENDING, "")

    orders.cancel_order(order, actor=customer)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    assert payment.events.get(kind=PaymentEventKind.CANCELED).data["note"] == "never reached the provider"
    assert not [r for r in stub.requests if r.path.endswith("/cancel")]
    # A retried start for the gone order no longer charges.
    again = start_payment(order, card=None, idempotency_key="never-answered")
    assert again.status == PaymentStatus.CANCELED
    assert len(stub.posted("/v1/payment_intents")) == 1


def test_a_declined_offline_payment_stays_as_it_was(settings: Settings, variant: Variant, customer: User) -> None:
    settings.PAYMENT_PROVIDER = "test"
    order = make_order([(variant, 1)], user=customer)
    with pytest.raises(PaymentDeclined):
        start_payment(
            order,
            card=CardInput(number="4000000000000002", exp_month=12, exp_year=2099, cvc="123"),
            idempotency_key="declined",
        )

    orders.cancel_order(order, actor=customer)

    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.FAILED
    assert kinds(payment) == ["created", "failed"]


def test_failed_voids_are_retried_every_quarter_hour() -> None:
    jobs = {job.name: job for job in scheduler.get_jobs()}
    retry = jobs[payment_tasks.retry_payment_voids.name]
    now = datetime(2026, 11, 28, 10, 1, tzinfo=UTC)
    assert retry.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
