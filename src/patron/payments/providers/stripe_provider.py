"""The `stripe` provider: a PaymentIntent per payment, confirmed in the browser by Stripe.js, settled by webhooks."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import stripe

from patron.payments.providers.base import (
    CancelOutcome,
    ChargeOutcome,
    ChargeRequest,
    ProviderUnavailable,
    RefundOutcome,
)

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


# Stripe's answer when an intent's status forbids the request, e.g. cancelling one that has just succeeded.
UNEXPECTED_STATE = "payment_intent_unexpected_state"


class StripeProvider:
    name: ClassVar[str] = "stripe"
    declines_stay_open: ClassVar[bool] = True

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

    def cancel(self, *, reference: str, idempotency_key: str) -> CancelOutcome:
        try:
            intent = stripe.PaymentIntent.cancel(
                reference,
                api_key=self.secret_key,
                idempotency_key=idempotency_key,
                cancellation_reason="abandoned",
            )
        except stripe.InvalidRequestError as exc:
            status = _intent_status(exc)
            if exc.code != UNEXPECTED_STATE or not status:
                raise ProviderUnavailable(str(exc)) from exc
            data = {"stripe_status": status, "stripe_error": exc.code, "stripe_message": exc.user_message or ""}
            # Cancelled before (by an earlier attempt, or in the dashboard): it can take no money, as wanted.
            return CancelOutcome(canceled=status == "canceled", provider_status=status, data=data)
        except stripe.StripeError as exc:
            raise ProviderUnavailable(str(exc)) from exc
        body = intent.to_dict()
        status = str(body.get("status") or "")
        return CancelOutcome(
            canceled=status == "canceled",
            provider_status=status,
            data={"stripe_status": status, "cancellation_reason": body.get("cancellation_reason")},
        )


def _intent_status(exc: stripe.StripeError) -> str:
    """The status of the PaymentIntent that Stripe attaches to an error about it, or "" without one."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    intent = error.get("payment_intent") if isinstance(error, dict) else None
    status = intent.get("status") if isinstance(intent, dict) else None
    return status if isinstance(status, str) else ""
