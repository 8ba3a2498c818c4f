"""The event table: every subscriber named there is a real task, and publishing waits for the commit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.tasks import Task

from patron import events


@pytest.mark.parametrize("event_type", list(events.SUBSCRIBERS))
def test_every_subscriber_is_a_task(event_type: type[events.Event]) -> None:
    for subscriber in events.subscribers(event_type):
        assert isinstance(subscriber, Task)


def test_payload_is_the_events_fields() -> None:
    assert events.PaymentRefunded(payment_id=3, order_id=7, amount="12.50").payload() == {
        "payment_id": 3,
        "order_id": 7,
        "amount": "12.50",
    }


@pytest.mark.django_db
def test_publish_dispatches_only_after_commit(
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    dispatched: list[events.Event] = []
    monkeypatch.setattr(events, "dispatch", dispatched.append)
    event = events.OrderPlaced(order_id=1)
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[attr-defined]
        events.publish(event)
        assert dispatched == []
    for callback in callbacks:
        callback()
    assert dispatched == [event]
