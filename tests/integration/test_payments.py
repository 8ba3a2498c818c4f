"""Payments through the offline test provider: card outcomes, idempotency, refunds, ledger and published events."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.test import Client, RequestFactory
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks, Settings

from patron import events
from patron.accounts.testing import make_user
from patron.api import on_domain_error
from patron.errors import Conflict, ValidationFailed
from patron.orders.models import Order, OrderStatus
from patron.payments.models import Payment, PaymentEvent, PaymentEventKind
from patron.payments.services import (
    CardInput,
    PaymentDeclined,
    payments_for_order,
    refund_payment,
    start_payment,
)
from patron.payments.testing import make_order

pytestmark = pytest.mark.django_db

GOOD = CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2040, cvc="123")


def card(number: str, *, exp_month: int = 12, exp_year: int = 2040) -> CardInput:
    return CardInput(number=number, exp_month=exp_month, exp_year=exp_year, cvc="123")


@pytest.fixture(autouse=True)
def _test_provider(settings: Settings) -> None:
    settings.PAYMENT_PROVIDER = "test"


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[events.Event]:
    dispatched: list[events.Event] = []
    monkeypatch.setattr(events, "dispatch", dispatched.append)
    return dispatched


def ledger_refunds(payment: Payment) -> Decimal:
    total = payment.events.filter(kind=PaymentEventKind.REFUNDED).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


def test_a_good_card_succeeds_and_publishes_payment_succeeded(
    published: list[events.Event], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    order = make_order("42.50")
    with django_capture_on_commit_callbacks(execute=True):
        payment = start_payment(order, card=GOOD, idempotency_key="checkout-1")

    payment.refresh_from_db()
    assert (payment.status, payment.amount, payment.currency, payment.provider) == (
        "succeeded",
        Decimal("42.50"),
        "USD",
        "test",
    )
    assert payment.provider_reference.startswith("pi_test_")
    assert [(e.kind, e.amount) for e in payment.events.all()] == [
        ("created", Decimal("42.50")),
        ("succeeded", Decimal("42.50")),
    ]
    assert published == [events.PaymentSucceeded(payment_id=payment.pk, order_id=order.pk)]
    # The order's status is the orders app's business, moved by the PaymentSucceeded subscriber.
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_only_brand_and_last4_of_the_card_are_stored() -> None:
    payment = start_payment(make_order(), card=GOOD, idempotency_key="no-pan")
    stored = json.dumps([list(Payment.objects.values()), list(PaymentEvent.objects.values())], default=str)
    assert "4242424242424242" not in stored
    data = payment.events.get(kind="succeeded").data
    assert (data["brand"], data["last4"]) == ("visa", "4242")


@pytest.mark.parametrize(
    ("number", "code", "advice"),
    [
        ("4000 0000 0000 0002", "card_declined", "Your card was declined"),
        ("4000 0000 0000 9995", "insufficient_funds", "insufficient funds"),
    ],
)
def test_declining_cards_record_the_failure_then_raise(
    number: str,
    code: str,
    advice: str,
    published: list[events.Event],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    order = make_order()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PaymentDeclined) as caught:
        start_payment(order, card=card(number), idempotency_key=f"declined-{code}")

    assert (caught.value.status, caught.value.code) == (402, code)
    assert advice in caught.value.message
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.failure_code) == ("failed", code)
    assert list(payment.events.values_list("kind", flat=True)) == ["created", "failed"]
    assert published == [events.PaymentFailed(payment_id=payment.pk, order_id=order.pk, reason=code)]


def test_an_expired_card_is_declined_as_expired_card(published: list[events.Event]) -> None:
    order = make_order()
    with pytest.raises(PaymentDeclined) as caught:
        start_payment(order, card=card("4242424242424242", exp_month=1, exp_year=2020), idempotency_key="expired")
    assert caught.value.code == "expired_card"
    assert "expired" in caught.value.message
    assert Payment.objects.get(order=order).failure_code == "expired_card"


def test_an_invalid_number_is_a_validation_error_and_records_nothing(published: list[events.Event]) -> None:
    order = make_order()
    with pytest.raises(ValidationFailed) as caught:
        start_payment(order, card=card("4242 4242 4242 4241"), idempotency_key="typo")
    assert list(caught.value.fields) == ["number"]
    assert not Payment.objects.exists()
    with pytest.raises(ValidationFailed) as missing:
        start_payment(order, card=None, idempotency_key="no-card")
    assert list(missing.value.fields) == ["number"]


def test_the_same_idempotency_key_is_one_payment(
    published: list[events.Event], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    order = make_order()
    with django_capture_on_commit_callbacks(execute=True):
        first = start_payment(order, card=GOOD, idempotency_key="same-key")
        again = start_payment(order, card=GOOD, idempotency_key="same-key")
    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert PaymentEvent.objects.count() == 2
    assert len(published) == 1


def test_a_replayed_declined_payment_gives_the_same_answer_and_a_new_key_can_retry() -> None:
    order = make_order()
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            start_payment(order, card=card("4000000000000002"), idempotency_key="declined-once")
    assert Payment.objects.count() == 1
    retried = start_payment(order, card=GOOD, idempotency_key="declined-then-retried")
    assert retried.status == "succeeded"
    assert [p.status for p in payments_for_order(order)] == ["failed", "succeeded"]


def test_a_payment_inside_the_checkout_transaction_costs_seven_statements(
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    order = make_order()
    with transaction.atomic(), django_assert_max_num_queries(7):
        payment = start_payment(order, card=GOOD, idempotency_key="budget")
    assert payment.status == "succeeded"


def test_a_paid_order_is_not_charged_twice() -> None:
    order = make_order()
    start_payment(order, card=GOOD, idempotency_key="first")
    with pytest.raises(Conflict) as caught:
        start_payment(order, card=GOOD, idempotency_key="second")
    assert caught.value.code == "already_paid"
    assert Payment.objects.filter(order=order).count() == 1


def test_a_key_belongs_to_one_order() -> None:
    start_payment(make_order(), card=GOOD, idempotency_key="shared")
    with pytest.raises(Conflict) as caught:
        start_payment(make_order(), card=GOOD, idempotency_key="shared")
    assert caught.value.code == "idempotency_key_reused"


def test_only_orders_awaiting_payment_are_charged() -> None:
    order = make_order(status=OrderStatus.CANCELLED)
    with pytest.raises(Conflict):
        start_payment(order, card=GOOD, idempotency_key="cancelled")
    assert not Payment.objects.exists()


def test_partial_then_full_refunds_follow_the_ledger(
    published: list[events.Event], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    staff = make_user("staff@example.com", is_staff=True)
    order = make_order("100.00")
    payment = start_payment(order, card=GOOD, idempotency_key="refunds")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        payment = refund_payment(payment, Decimal("30.005"), actor=staff, reason="Damaged box")
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("30.01"))
    assert payment.amount_refunded == ledger_refunds(payment)

    with pytest.raises(ValidationFailed) as too_much:
        refund_payment(payment, Decimal("69.999"), actor=staff, reason="More than is left")
    assert "69.99" in too_much.value.message
    with pytest.raises(ValidationFailed):
        refund_payment(payment, Decimal("0"), actor=staff, reason="Nothing")

    with django_capture_on_commit_callbacks(execute=True):
        payment = refund_payment(payment, actor=None, reason="Order cancelled")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("100.00"))
    assert payment.amount_refunded == ledger_refunds(payment)
    refunds = list(payment.events.filter(kind="refunded"))
    assert [(e.amount, e.data["reason"], e.data["actor_id"]) for e in refunds] == [
        (Decimal("30.01"), "Damaged box", staff.pk),
        (Decimal("69.99"), "Order cancelled", None),
    ]
    assert published == [
        events.PaymentRefunded(payment_id=payment.pk, order_id=order.pk, amount="30.01"),
        events.PaymentRefunded(payment_id=payment.pk, order_id=order.pk, amount="69.99"),
    ]
    with pytest.raises(Conflict):
        refund_payment(payment, Decimal("0.01"), actor=staff, reason="Nothing left")


def test_a_failed_payment_cannot_be_refunded() -> None:
    with pytest.raises(PaymentDeclined):
        start_payment(make_order(), card=card("4000000000000002"), idempotency_key="failed")
    with pytest.raises(Conflict) as caught:
        refund_payment(Payment.objects.get(), actor=None, reason="Nothing was taken")
    assert caught.value.code == "not_refundable"


def test_a_decline_answers_402_json_in_the_api() -> None:
    request = RequestFactory().post("/api/orders")
    response = on_domain_error(request, PaymentDeclined("Your card was declined.", code="card_declined"))
    assert response.status_code == 402
    assert json.loads(response.content) == {
        "error": {"code": "card_declined", "message": "Your card was declined.", "fields": {}}
    }


def test_staff_refund_from_the_back_office(client: Client) -> None:
    staff = make_user("boss@example.com", is_staff=True, is_superuser=True)
    payment = start_payment(make_order("12.00"), card=GOOD, idempotency_key="admin-refund")
    client.force_login(staff)

    page = client.get(f"/admin/payments/payment/{payment.pk}/change/")
    assert page.status_code == 200
    assert b"4242" in page.content and b"succeeded" in page.content.lower()

    response = client.post(
        "/admin/payments/payment/", {"action": "refund", "_selected_action": [payment.pk]}, follow=True
    )
    assert response.status_code == 200
    assert b"refunded, 12.00 USD in total" in response.content
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("12.00"))
    assert payment.events.get(kind="refunded").data["actor_id"] == staff.pk
    assert client.get("/admin/payments/payment/add/").status_code == 403


def test_orders_are_protected_by_their_payments() -> None:
    from django.db.models import ProtectedError

    order = make_order()
    start_payment(order, card=GOOD, idempotency_key="protect")
    with pytest.raises(ProtectedError):
        Order.objects.filter(pk=order.pk).delete()
