"""Helpers for tests of the Stripe provider: a local stand-in for Stripe's API and signed webhook deliveries."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count
from typing import Any

import stripe
from django.conf import settings
from django.test import Client

from patron.orders.models import Order
from patron.stub_server import StubRequest, serving

STUB_SECRET_KEY = "sk_test_patron_stub"  # noqa: S105 (a fake key the stub accepts)
STUB_WEBHOOK_SECRET = "whsec_patron_stub"  # noqa: S105 (a fake signing secret for tests)


_order_numbers = count(1)


def make_order(total: Decimal | str = "42.50", *, email: str = "grace@example.com", **fields: Any) -> Order:
    """An order awaiting payment, created directly: payment tests need its number, total and currency only."""
    return Order.objects.create(
        number=f"P{next(_order_numbers):07d}",
        email=email,
        currency=fields.pop("currency", settings.STORE_CURRENCY),
        subtotal=Decimal(total),
        total=Decimal(total),
        **fields,
    )


CANCEL_PATH = re.compile(r"^/v1/payment_intents/(?P<intent>[^/]+)/cancel$")
# Stripe also cancels some `processing` intents "in rare cases"; a card payment being processed it refuses to.
CANCELABLE = frozenset({"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action"})


@dataclass
class StripeStub:
    """Answers POST /v1/payment_intents, /v1/payment_intents/<id>/cancel and /v1/refunds like Stripe's test mode,
    keeps the intents it made (their status changes as a shopper's browser would change it: `set_status`), and keeps
    every request it saw."""

    base_url: str = ""
    requests: list[StubRequest] = field(default_factory=list)
    # A status and Stripe error body to answer the next request with, to play an outage or a refusal.
    fail_next: tuple[int, dict[str, Any]] | None = None
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if self.fail_next is not None:
                status, body = self.fail_next
                self.fail_next = None
                return status, body
            key = request.headers.get("idempotency-key", "")
            if key and key in self._replies:
                return self._replies[key]
            reply = self._create(request)
            if key:
                self._replies[key] = reply
            return reply

    def set_status(self, intent_id: str, status: str) -> None:
        """What happens at Stripe without the store asking, e.g. the shopper's payment succeeding."""
        with self._lock:
            self.intents[intent_id]["status"] = status

    def _create(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        number = next(self._ids)
        params = request.params
        if request.path == "/v1/payment_intents":
            intent_id = f"pi_stub{number:06d}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(params["amount"]),
                "amount_received": 0,
                "currency": params["currency"],
                "status": "requires_payment_method",
                "cancellation_reason": None,
                "client_secret": f"{intent_id}_secret_stub{number}",
                "automatic_payment_methods": {"enabled": params.get("automatic_payment_methods[enabled]") == "true"},
                "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
                "livemode": False,
            }
            self.intents[intent_id] = intent
            return 200, dict(intent)
        if cancel := CANCEL_PATH.match(request.path):
            return self._cancel(cancel["intent"], params)
        if request.path == "/v1/refunds":
            return 200, {
                "id": f"re_stub{number:06d}",
                "object": "refund",
                "amount": int(params["amount"]),
                "currency": "usd",
                "payment_intent": params["payment_intent"],
                "status": "succeeded",
            }
        return 404, {"error": {"type": "invalid_request_error"}}

    def _cancel(self, intent_id: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(intent_id)
        if intent is None:
            message = f"No such payment_intent: '{intent_id}'"
            missing = {"type": "invalid_request_error", "code": "resource_missing", "message": message}
            return 404, {"error": missing}
        if intent["status"] not in CANCELABLE:
            # Stripe's refusal names the intent's status and attaches the intent itself.
            message = (
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
                f"PaymentIntent with one of the following statuses may be canceled: {', '.join(sorted(CANCELABLE))}."
            )
            error: dict[str, Any] = {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": message,
                "payment_intent": dict(intent),
            }
            return 400, {"error": error}
        intent["status"] = "canceled"
        intent["cancellation_reason"] = params.get("cancellation_reason")
        return 200, dict(intent)

    def posted(self, path: str) -> list[StubRequest]:
        return [request for request in self.requests if request.method == "POST" and request.path == path]


@contextmanager
def running_stripe_stub() -> Iterator[StripeStub]:
    """Serve the stub on a free loopback port and point the Stripe SDK at it for the duration."""
    stub = StripeStub()
    with serving(stub.answer) as base_url:
        stub.base_url = base_url
        saved = stripe.api_base, stripe.max_network_retries
        stripe.api_base, stripe.max_network_retries = stub.base_url, 0
        try:
            yield stub
        finally:
            stripe.api_base, stripe.max_network_retries = saved


def stripe_event(event_type: str, obj: dict[str, Any], *, event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "api_version": stripe.api_version,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def signature_header(payload: bytes, *, secret: str = STUB_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send, computed with the SDK's own helper."""
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp)


def deliver_webhook(
    client: Client, payload: bytes, *, secret: str = STUB_WEBHOOK_SECRET, timestamp: int | None = None
) -> Any:
    return client.post(
        "/payments/stripe/webhook/",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": signature_header(payload, secret=secret, timestamp=timestamp)},
    )
