"""The `stripe` provider: a PaymentIntent per payment, confirmed in the browser by Stripe.js, settled by webhooks."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import stripe

from patron.payments.providers.base import ChargeOutcome, ChargeRequest, ProviderUnavailable, RefundOutcome

# Currencies Stripe counts in whole units (no cents): https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)


def to_minor_units(amount: Decimal, currency: str) -> int:
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return int(amount)
    return int((amount * 100).to_integral_value())


def from_minor_units(value: int, currency: str) -> Decimal:
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return Decimal(value).quantize(Decimal("0.01"))
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


class StripeProvider:
    name: ClassVar[str] = "stripe"

    def __init__(self, *, secret_key: str) -> None:
        self.secret_key = secret_key

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        try:
            intent = stripe.PaymentIntent.create(
                api_key=self.secret_key,
                idempotency_key=request.idempotency_key,
                amount=to_minor_units(request.amount, request.currency),
                currency=request.currency.lower(),
                automatic_payment_methods={"enabled": True},
                metadata={"order_number": request.order_number, "payment_id": str(request.payment_id)},
            )
        except stripe.StripeError as exc:
            raise ProviderUnavailable(str(exc)) from exc
        return ChargeOutcome(
            status="requires_action",
            reference=intent.id,
            client_secret=intent.client_secret or "",
            data={"stripe_status": intent.status},
        )

    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome:
        try:
            refund = stripe.Refund.create(
                api_key=self.secret_key,
                idempotency_key=idempotency_key,
                payment_intent=reference,
                amount=to_minor_units(amount, currency),
            )
        except stripe.StripeError as exc:
            raise ProviderUnavailable(str(exc)) from exc
        return RefundOutcome(reference=refund.id, data={"stripe_status": refund.status})
