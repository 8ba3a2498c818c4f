"""The follow-up flows and their defaults; the merchant changes them in the back-office."""

from __future__ import annotations

from typing import Any

from patron.errors import NotFound
from patron.followups.models import Flow, FlowKey

DAY = 24
DEFAULT_FLOWS: dict[str, dict[str, Any]] = {
    FlowKey.REVIEW_REQUEST: {
        "delay_hours": 7 * DAY,
        "reminder_after_hours": 5 * DAY,
        "subject": "How do you like your order {{ order_number }}?",
        "intro": "Hello {{ name }}, your order arrived a few days ago. Would you tell other shoppers what you "
        "think? Tap a star to start your review.",
    },
    FlowKey.NPS: {
        "delay_hours": 14 * DAY,
        "reminder_after_hours": 0,
        "subject": "One quick question from {{ store_name }}",
        "intro": "Hello {{ name }}, how likely are you to recommend {{ store_name }} to a friend or colleague? "
        "Tap a number: it takes a second.",
    },
    FlowKey.CSAT: {
        "delay_hours": 1,
        "reminder_after_hours": 0,
        "subject": "How did we do?",
        "intro": "Hello {{ name }}, our team helped you with a question. How satisfied are you with the help you got?",
    },
    FlowKey.THANK_YOU: {
        "delay_hours": 1 * DAY,
        "reminder_after_hours": 0,
        "subject": "Thank you for your order {{ order_number }}",
        "intro": "Hello {{ name }}, thank you for shopping with us! Here is how to get the most out of what you "
        "bought, and a few things that go well with it.",
    },
    FlowKey.ABANDONED_CART: {
        "delay_hours": 4,
        "reminder_after_hours": 0,
        "subject": "You left something in your cart",
        "intro": "Hello {{ name }}, your cart is still waiting for you. The button below brings it back, on any "
        "device.",
    },
}
# Flows that sell rather than ask: they need the customer's marketing consent.
MARKETING_FLOWS = frozenset({FlowKey.THANK_YOU, FlowKey.ABANDONED_CART})


def get_flow(key: str) -> Flow:
    """The merchant's settings of a flow, created with the defaults on first use."""
    if key not in DEFAULT_FLOWS:
        raise NotFound("No such follow-up flow.")
    return Flow.objects.get_or_create(key=key, defaults=DEFAULT_FLOWS[key])[0]


def ensure_flows() -> list[Flow]:
    return [get_flow(key) for key in DEFAULT_FLOWS]
