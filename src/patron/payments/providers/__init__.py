"""Payment providers, chosen by `settings.PAYMENT_PROVIDER`; a payment keeps using the provider that took it."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from patron.payments.providers.base import (
    CancelOutcome,
    CardInput,
    ChargeOutcome,
    ChargeRequest,
    PaymentProvider,
    ProviderUnavailable,
    RefundOutcome,
)
from patron.payments.providers.offline import OfflineProvider
from patron.payments.providers.stripe_provider import StripeProvider

__all__ = [
    "CancelOutcome",
    "CardInput",
    "ChargeOutcome",
    "ChargeRequest",
    "OfflineProvider",
    "PaymentProvider",
    "ProviderUnavailable",
    "RefundOutcome",
    "StripeProvider",
    "get_provider",
]


def get_provider(name: str | None = None) -> PaymentProvider:
    name = name or settings.PAYMENT_PROVIDER
    if name == OfflineProvider.name:
        return OfflineProvider()
    if name == StripeProvider.name:
        return StripeProvider(secret_key=settings.STRIPE_SECRET_KEY)
    raise ImproperlyConfigured(f"Unknown PAYMENT_PROVIDER {name!r}; use 'test' or 'stripe'.")
