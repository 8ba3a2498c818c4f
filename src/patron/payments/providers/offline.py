"""The offline `test` provider: answers like Stripe's test cards, settles at once, never leaves the machine."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import ClassVar

from django.utils import timezone

from patron.payments.providers.base import CancelOutcome, ChargeOutcome, ChargeRequest, RefundOutcome

# Stripe's documented test numbers and the decline each one stands for; other valid numbers succeed.
DECLINING_CARDS: dict[str, tuple[str, str]] = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": ("expired_card", "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", "Your card's security code is incorrect."),
}


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720":
        return "mastercard"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def _reference(prefix: str, key: str) -> str:
    # Derived from the idempotency key, like Stripe answering a retried request with the same object.
    return f"{prefix}_test_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class OfflineProvider:
    name: ClassVar[str] = "test"
    declines_stay_open: ClassVar[bool] = False

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        card = request.card
        if card is None:
            raise ValueError("The test provider needs card details.")
        digits = card.digits
        data = {"brand": card_brand(digits), "last4": digits[-4:]}
        reference = _reference("pi", request.idempotency_key)
        today = timezone.localdate()
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            code, message = "expired_card", "Your card has expired."
        elif digits in DECLINING_CARDS:
            code, message = DECLINING_CARDS[digits]
        else:
            return ChargeOutcome(status="succeeded", reference=reference, data=data)
        return ChargeOutcome(
            status="failed", reference=reference, failure_code=code, failure_message=message, data=data
        )

    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome:
        return RefundOutcome(reference=_reference("re", idempotency_key))

    def cancel(self, *, reference: str, idempotency_key: str) -> CancelOutcome:
        # Nothing waits at a provider: a charge settles in the request that made it, so an unsettled payment
        # (one whose request never finished) can take no money and voiding it only needs recording.
        return CancelOutcome(canceled=True, provider_status="canceled")
