"""Payments under concurrency: one payment per idempotency key, and refunds that never exceed what was captured."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum
from pytest_django import Settings

from patron.errors import ValidationFailed
from patron.payments.models import Payment, PaymentEvent, PaymentEventKind
from patron.payments.services import CardInput, refund_payment, start_payment
from patron.payments.testing import make_order
from tests.concurrency import in_threads, own_database_file, race

GOOD = CardInput(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123")
THREADS = 8


@pytest.fixture(autouse=True)
def _test_provider(settings: Settings) -> None:
    settings.PAYMENT_PROVIDER = "test"


@race
@pytest.mark.django_db(transaction=True)
def test_one_payment_per_idempotency_key_under_concurrency(tmp_path: Path) -> None:
    order = make_order("30.00")

    with own_database_file(tmp_path):
        ids = in_threads(THREADS, lambda: start_payment(order, card=GOOD, idempotency_key="double-click").pk)
        [(payments, succeeded)] = in_threads(
            1,
            lambda: (
                list(Payment.objects.values_list("pk", "status")),
                PaymentEvent.objects.filter(kind=PaymentEventKind.SUCCEEDED).count(),
            ),
        )

    assert len(set(ids)) == 1
    assert payments == [(ids[0], "succeeded")]
    assert succeeded == 1


def _refund_thirty(payment: Payment) -> str:
    try:
        refund_payment(payment, Decimal("30.00"), actor=None, reason="Goodwill")
    except ValidationFailed as refused:
        return refused.message
    return "refunded"


@race
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_captured_amount(tmp_path: Path) -> None:
    payment = start_payment(make_order("100.00"), card=GOOD, idempotency_key="refund-race")

    with own_database_file(tmp_path):
        results = in_threads(THREADS, lambda: _refund_thirty(payment))
        [(refunded, ledger)] = in_threads(
            1,
            lambda: (
                Payment.objects.get(pk=payment.pk).amount_refunded,
                PaymentEvent.objects.filter(kind=PaymentEventKind.REFUNDED).aggregate(total=Sum("amount"))["total"],
            ),
        )

    assert results.count("refunded") == 3
    assert results.count("At most 10.00 USD can be refunded.") == THREADS - 3
    assert refunded == ledger == Decimal("90.00")
