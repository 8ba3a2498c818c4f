"""The Stripe provider against a local stand-in for Stripe's API, and signed webhook deliveries to the endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from patron import events
from patron.accounts.testing import make_user
from patron.errors import ValidationFailed
from patron.orders.models import Order, OrderStatus
from patron.payments.models import Payment, PaymentEvent, PaymentEventKind
from patron.payments.services import CardInput, PaymentUnavailable, refund_payment, start_payment
from patron.payments.testing import (
    STUB_SECRET_KEY,
    STUB_WEBHOOK_SECRET,
    StripeStub,
    deliver_webhook,
    make_order,
    running_stripe_stub,
    stripe_event,
)

pytestmark = pytest.mark.django_db

WEBHOOK = "/payments/stripe/webhook/"


@pytest.fixture(autouse=True)
def _stripe_settings(settings: Settings) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = STUB_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = STUB_WEBHOOK_SECRET


@pytest.fixture
def stub() -> Iterator[StripeStub]:
    with running_stripe_stub() as running:
        yield running


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[events.Event]:
    dispatched: list[events.Event] = []
    monkeypatch.setattr(events, "dispatch", dispatched.append)
    return dispatched


def intent_payload(payment: Payment, **fields: Any) -> dict[str, Any]:
    return {
        "id": payment.provider_reference,
        "object": "payment_intent",
        "amount": int(payment.amount * 100),
        "currency": payment.currency.lower(),
        **fields,
    }


def awaiting(stub: StripeStub, total: str = "42.50", key: str = "checkout-1") -> tuple[Order, Payment]:
    order = make_order(total)
    return order, start_payment(order, card=None, idempotency_key=key)


def test_start_payment_creates_a_payment_intent(stub: StripeStub, published: list[events.Event]) -> None:
    order, payment = awaiting(stub, "42.50", key="order-key-1")

    assert payment.status == "requires_action"
    assert payment.provider == "stripe"
    assert payment.provider_reference == "pi_stub000001"
    assert payment.client_secret == "pi_stub000001_secret_stub1"
    [sent] = stub.posted("/v1/payment_intents")
    assert sent.params["amount"] == "4250"
    assert sent.params["currency"] == "usd"
    assert sent.params["automatic_payment_methods[enabled]"] == "true"
    assert sent.params["metadata[order_number]"] == order.number
    assert sent.headers["idempotency-key"] == "order-key-1"
    assert sent.headers["authorization"] == f"Bearer {STUB_SECRET_KEY}"
    assert list(payment.events.values_list("kind", flat=True)) == ["created", "requires_action"]
    assert published == []


def test_a_retried_start_is_the_same_payment_intent(stub: StripeStub) -> None:
    order, first = awaiting(stub, key="same")
    again = start_payment(order, card=None, idempotency_key="same")
    assert again.pk == first.pk and again.client_secret == first.client_secret
    assert Payment.objects.count() == 1
    assert len(stub.posted("/v1/payment_intents")) == 1


def test_an_outage_leaves_a_pending_payment_that_the_same_key_completes(stub: StripeStub) -> None:
    order = make_order()
    stub.fail_next = (500, {"error": {"type": "api_error", "message": "Something went wrong"}})
    with pytest.raises(PaymentUnavailable) as caught:
        start_payment(order, card=None, idempotency_key="flaky")
    assert caught.value.status == 503
    assert Payment.objects.get().status == "pending"

    payment = start_payment(order, card=None, idempotency_key="flaky")
    assert payment.status == "requires_action"
    assert Payment.objects.count() == 1
    assert [r.headers["idempotency-key"] for r in stub.posted("/v1/payment_intents")] == ["flaky", "flaky"]


def test_card_numbers_are_never_sent_to_the_store_with_stripe(stub: StripeStub) -> None:
    card = CardInput(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123")
    with pytest.raises(ValidationFailed):
        start_payment(make_order(), card=card, idempotency_key="raw-card")
    assert stub.requests == []


def test_succeeded_webhook_settles_the_payment_once(
    stub: StripeStub,
    published: list[events.Event],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # Stripe has no CSRF token: its signature is the proof of origin.
    client = Client(enforce_csrf_checks=True)
    order, payment = awaiting(stub)
    payload = stripe_event(
        "payment_intent.succeeded",
        intent_payload(payment, status="succeeded", amount_received=4250, payment_method="pm_card_visa"),
        event_id="evt_succeeded_1",
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver_webhook(client, payload)
        replay = deliver_webhook(client, payload)

    assert (first.status_code, replay.status_code) == (200, 200)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert [(e.kind, e.amount, e.provider_event_id) for e in payment.events.all()] == [
        ("created", Decimal("42.50"), None),
        ("requires_action", None, None),
        ("webhook", None, "evt_succeeded_1"),
        ("succeeded", Decimal("42.50"), None),
    ]
    assert published == [events.PaymentSucceeded(payment_id=payment.pk, order_id=order.pk)]


def test_failed_webhook_records_the_decline_and_a_later_success_wins(
    stub: StripeStub,
    client: Client,
    published: list[events.Event],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    order, payment = awaiting(stub)
    error = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    failed = stripe_event(
        "payment_intent.payment_failed",
        intent_payload(payment, status="requires_payment_method", last_payment_error=error),
        event_id="evt_failed_1",
    )
    succeeded = stripe_event(
        "payment_intent.succeeded", intent_payload(payment, amount_received=4250), event_id="evt_succeeded_2"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_webhook(client, failed).status_code == 200
        payment.refresh_from_db()
        assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")
        assert deliver_webhook(client, succeeded).status_code == 200
        # A late copy of the failure must not undo the success.
        late = stripe_event("payment_intent.payment_failed", json.loads(failed)["data"]["object"], event_id="evt_late")
        assert deliver_webhook(client, late).status_code == 200

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("succeeded", "")
    assert published == [
        events.PaymentFailed(payment_id=payment.pk, order_id=order.pk, reason="insufficient_funds"),
        events.PaymentSucceeded(payment_id=payment.pk, order_id=order.pk),
    ]


def settle(client: Client, payment: Payment) -> None:
    payload = stripe_event(
        "payment_intent.succeeded", intent_payload(payment, amount_received=int(payment.amount * 100)), event_id="evt_s"
    )
    assert deliver_webhook(client, payload).status_code == 200
    payment.refresh_from_db()


def test_refunds_go_to_stripe_and_its_refund_webhook_adds_nothing_twice(
    stub: StripeStub,
    client: Client,
    published: list[events.Event],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    staff = make_user("staff@example.com", is_staff=True)
    order, payment = awaiting(stub, "100.00", key="refund-me")
    settle(client, payment)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        payment = refund_payment(payment, Decimal("25.00"), actor=staff, reason="Late delivery")
    [sent] = stub.posted("/v1/refunds")
    assert sent.params == {"payment_intent": payment.provider_reference, "amount": "2500"}
    assert sent.headers["idempotency-key"] == "refund-me:refund:1"
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("25.00"))
    assert payment.events.get(kind="refunded").data["reference"] == "re_stub000002"

    # Stripe reports the refund we made (cumulative 25.00), then one made in its dashboard (cumulative 40.00).
    charge = {"id": "ch_1", "object": "charge", "payment_intent": payment.provider_reference, "refunded": False}
    ours = stripe_event("charge.refunded", charge | {"amount_refunded": 2500}, event_id="evt_refund_ours")
    dashboard = stripe_event("charge.refunded", charge | {"amount_refunded": 4000}, event_id="evt_refund_dash")
    with django_capture_on_commit_callbacks(execute=True):
        for payload in (ours, dashboard, dashboard):
            assert deliver_webhook(client, payload).status_code == 200

    payment.refresh_from_db()
    refunds = list(payment.events.filter(kind=PaymentEventKind.REFUNDED).values_list("amount", flat=True))
    assert refunds == [Decimal("25.00"), Decimal("15.00")]
    assert payment.amount_refunded == Decimal("40.00")
    assert payment.events.filter(kind="refunded").aggregate(total=Sum("amount"))["total"] == Decimal("40.00")
    assert published == [
        events.PaymentRefunded(payment_id=payment.pk, order_id=order.pk, amount="25.00"),
        events.PaymentRefunded(payment_id=payment.pk, order_id=order.pk, amount="15.00"),
    ]

    with pytest.raises(ValidationFailed):
        refund_payment(payment, Decimal("60.01"), actor=staff, reason="Too much")
    payment = refund_payment(payment, actor=staff, reason="The rest")
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("100.00"))
    assert [r.params["amount"] for r in stub.posted("/v1/refunds")] == ["2500", "6000"]


def test_money_for_a_cancelled_order_goes_straight_back(
    stub: StripeStub, client: Client, published: list[events.Event]
) -> None:
    order, payment = awaiting(stub, "20.00")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    payload = stripe_event(
        "payment_intent.succeeded", intent_payload(payment, amount_received=2000), event_id="evt_late"
    )

    stub.fail_next = (500, {"error": {"type": "api_error", "message": "Something went wrong"}})
    outage = deliver_webhook(client, payload)
    assert outage.status_code == 503
    payment.refresh_from_db()
    assert payment.status == "requires_action"
    assert not payment.events.filter(kind="webhook").exists()

    # Stripe delivers the event again later; this time the refund goes through.
    assert deliver_webhook(client, payload).status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("20.00"))
    assert [r.params["amount"] for r in stub.posted("/v1/refunds")] == ["2000", "2000"]
    assert payment.events.get(kind="refunded").data["reason"] == "The order was cancelled before the payment completed."


def test_a_second_payment_for_a_paid_order_is_refunded(stub: StripeStub, client: Client) -> None:
    order, first = awaiting(stub, "15.00", key="tab-1")
    second = start_payment(order, card=None, idempotency_key="tab-2")
    settle(client, first)
    payload = stripe_event("payment_intent.succeeded", intent_payload(second, amount_received=1500), event_id="evt_2")
    assert deliver_webhook(client, payload).status_code == 200

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("succeeded", "refunded")
    [refund] = stub.posted("/v1/refunds")
    assert refund.params == {"payment_intent": second.provider_reference, "amount": "1500"}


def test_a_bad_signature_is_refused(stub: StripeStub, client: Client) -> None:
    _, payment = awaiting(stub)
    payload = stripe_event("payment_intent.succeeded", intent_payload(payment), event_id="evt_forged")

    forged = deliver_webhook(client, payload, secret="whsec_someone_else")
    unsigned = client.post(WEBHOOK, data=payload, content_type="application/json")
    tampered = client.post(
        WEBHOOK,
        data=payload.replace(b"evt_forged", b"evt_forgex"),
        content_type="application/json",
        headers={"Stripe-Signature": forged.request["HTTP_STRIPE_SIGNATURE"]},
    )

    for response in (forged, unsigned, tampered):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_signature"
    payment.refresh_from_db()
    assert payment.status == "requires_action"
    assert not PaymentEvent.objects.filter(kind="webhook").exists()


def test_an_old_signature_is_refused(stub: StripeStub, client: Client) -> None:
    _, payment = awaiting(stub)
    payload = stripe_event("payment_intent.succeeded", intent_payload(payment), event_id="evt_old")
    response = deliver_webhook(client, payload, timestamp=int(time.time()) - 3600)
    assert response.status_code == 400
    payment.refresh_from_db()
    assert payment.status == "requires_action"


def test_unknown_events_and_payments_are_acknowledged_and_ignored(stub: StripeStub, client: Client) -> None:
    _, payment = awaiting(stub)
    other_type = stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_customer")
    other_intent = stripe_event(
        "payment_intent.succeeded", {"id": "pi_elsewhere", "amount_received": 100}, event_id="evt_elsewhere"
    )
    for payload in (other_type, other_intent):
        response = deliver_webhook(client, payload)
        assert (response.status_code, response.json()) == (200, {"received": True})
    assert not PaymentEvent.objects.filter(kind="webhook").exists()
    payment.refresh_from_db()
    assert payment.status == "requires_action"


def test_the_webhook_takes_posts_only(client: Client) -> None:
    assert client.get(WEBHOOK).status_code == 405
