"""What the payment services need from a provider, whichever one takes the money."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class CardInput:
    """Card details typed by the shopper; only the offline test provider ever sees them."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def digits(self) -> str:
        return "".join(self.number.split())


@dataclass(frozen=True)
class ChargeRequest:
    amount: Decimal
    currency: str
    idempotency_key: str
    order_number: str
    payment_id: int
    card: CardInput | None


@dataclass(frozen=True)
class ChargeOutcome:
    """The provider's answer: settled at once (succeeded/failed) or waiting for the shopper (requires_action)."""

    status: str
    reference: str
    failure_code: str = ""
    failure_message: str = ""
    client_secret: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundOutcome:
    reference: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelOutcome:
    """The provider's answer to voiding a payment the shopper has not completed.

    `canceled` is True once the payment can no longer take money (also when it was cancelled before). False means
    it was too late: `provider_status` says what the shopper's payment became meanwhile (Stripe: `succeeded`, or
    `processing`), and the provider's own notification of that outcome is what settles it.
    """

    canceled: bool
    provider_status: str
    data: dict[str, Any] = field(default_factory=dict)


class ProviderUnavailable(Exception):
    """The provider could not be reached or refused the request for a reason that is not the shopper's card."""


class PaymentProvider(Protocol):
    name: ClassVar[str]
    # A declined attempt stays open for another card (Stripe's `requires_payment_method`), so it still needs
    # cancelling when its order goes away; where a decline is final there is nothing left to cancel.
    declines_stay_open: ClassVar[bool]

    def charge(self, request: ChargeRequest) -> ChargeOutcome: ...

    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome: ...

    def cancel(self, *, reference: str, idempotency_key: str) -> CancelOutcome:
        """Stop the payment `reference` from taking money; ProviderUnavailable when the provider cannot say."""
        ...
