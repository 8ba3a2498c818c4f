"""Reply latency of the default support assistant (no generative model), in process.

Each sample is one `chat.send` as the web widget and the API call it: the message stored, understood, answered
through the store's services and the reply stored. The mix covers a guest tracking an order (asked for the
e-mail, then answered), a customer tracking and asking to cancel, product search, policy questions answered
from the articles, small talk, out-of-scope requests and a hand-off. Everything runs in one transaction that is
rolled back, so the bench store keeps no conversations; as for the catalog services, the cache is emptied before
every call. Loading the intent model happens once at start-up and is not counted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial

from rich.console import Console

TARGET_P95_MS = 150.0
GENERAL = (
    "what is your return policy?",
    "do you ship to canada?",
    "how long does delivery take",
    "which payment methods do you accept",
    "do you have a waterproof jacket under $100?",
    "I'm looking for running shoes",
    "hello",
    "thanks a lot!",
    "what's the weather like tomorrow",
    "who won the football game last night",
    "I want to talk to a person",
    "my card was declined",
)


def _samples(count: int) -> list[Callable[[], object]]:
    from patron.orders.models import Order
    from patron.support import chat

    calls: list[Callable[[], object]] = []
    customer_order = Order.objects.filter(user__isnull=False).select_related("user").order_by("-pk").first()
    guest_order = Order.objects.filter(user__isnull=True).order_by("-pk").first()

    def guest_tracking() -> object:
        assert guest_order is not None
        first = chat.send(None, f"where is my order {guest_order.number}?")
        return chat.send(None, guest_order.email, conversation_id=first.conversation.pk, token=first.conversation.token)

    round_: list[Callable[[], object]] = [partial(chat.send, None, text) for text in GENERAL]
    if customer_order is not None and customer_order.user is not None:
        user, number = customer_order.user, customer_order.number
        round_.append(partial(chat.send, user, f"where is my order {number}?"))
        round_.append(partial(chat.send, user, f"please cancel order {number}"))
    if guest_order is not None:
        round_.append(guest_tracking)
    while len(calls) < count:
        calls.extend(round_)
    return calls[:count]


def measure(count: int, latency: list[tuple[str, int, float, float]], console: Console) -> None:
    """Append the assistant's p50/p95 reply time (ms) to the bench's in-process latency rows."""
    from django.core.cache import cache
    from django.db import transaction

    from patron.support import chat
    from patron.support.assistant.nlu import classifier

    console.rule("Support assistant in process")
    classifier()
    timings: list[float] = []
    with transaction.atomic():
        chat.send(None, "what is your returns policy?")  # builds the article index once
        for call in _samples(count):
            cache.clear()
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        transaction.set_rollback(True)
    p50 = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=100, method="inclusive")[94]
    latency.append(("support assistant: chat reply, no LLM", len(timings), p50, p95))
    verdict = "within" if p95 <= TARGET_P95_MS else "over"
    console.print(f"Support reply: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({verdict} the {TARGET_P95_MS:.0f} ms target)")
