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


class ProviderUnavailable(Exception):
    """The provider could not be reached or refused the request for a reason that is not the shopper's card."""


class PaymentProvider(Protocol):
    name: ClassVar[str]

    def charge(self, request: ChargeRequest) -> ChargeOutcome: ...

    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> RefundOutcome: ...
