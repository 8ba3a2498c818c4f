"""Recording keeps the event in the process; events reach the table in batches, one INSERT each, and none is lost,
also when the database refuses a batch. Without Redis a process stores its batches itself; with Redis it hands them
to a shared list, drained by any number of workers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from patron.analytics import buffer, services
from patron.analytics.buffer import RedisBuffer
from patron.analytics.models import Event, EventName

pytestmark = pytest.mark.django_db

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis buffer needs REDIS_URL")


@pytest.fixture(autouse=True)
def empty_buffer(settings: Settings) -> Iterator[None]:
    settings.ANALYTICS_BATCH_SIZE = 100
    settings.ANALYTICS_FLUSH_SECONDS = 3600
    buffer.discard()
    yield
    buffer.discard()


def view(number: int) -> None:
    services.track(EventName.PRODUCT_VIEWED, user_id=None, visitor_id=f"v{number}", payload={"product_id": number})


def inserts(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if query["sql"].startswith("INSERT")]


def refuse_inserts(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    if sql.startswith('INSERT INTO "analytics_event"'):
        raise OperationalError("the database is away")
    return execute(sql, params, many, context)


# Whichever buffer the settings choose ------------------------------------------------------------------------------


def test_recording_writes_nothing_until_a_batch_is_full_then_one_insert(settings: Settings) -> None:
    settings.ANALYTICS_BATCH_SIZE = 5
    with CaptureQueriesContext(connection) as captured:
        for number in range(1, 5):
            view(number)
    assert captured.captured_queries == []
    assert buffer.pending() == 4

    with CaptureQueriesContext(connection) as captured:
        view(5)
        stored = buffer.flush()
    if buffer.shared_list() is None:
        # The fifth event filled the batch: it was written by the request that recorded it.
        assert stored == 0
    assert len(inserts(captured)) == 1
    assert list(Event.objects.order_by("pk").values_list("product_id", flat=True)) == [1, 2, 3, 4, 5]


def test_a_flush_stores_every_event_in_batches_of_one_insert_each(settings: Settings) -> None:
    settings.ANALYTICS_BATCH_SIZE = 100
    before = timezone.now()
    for number in range(250):
        services.track(
            EventName.CART_ITEM_ADDED,
            user_id=number,
            visitor_id=f"visitor-{number}",
            session_key=f"session-{number}",
            payload={"product_id": number + 1, "quantity": 2},
        )

    with CaptureQueriesContext(connection) as captured:
        assert buffer.flush() == 250 - (200 if buffer.shared_list() is None else 0)

    assert len(inserts(captured)) in (1, 3)  # memory: two full batches left earlier; Redis: all three now
    assert buffer.pending() == 0
    rows = list(Event.objects.order_by("pk"))
    assert len(rows) == 250
    assert [row.user_id for row in rows] == list(range(250))
    last = rows[-1]
    assert (last.name, last.visitor_id, last.session_key, last.product_id) == (
        "cart_item_added",
        "visitor-249",
        "session-249",
        250,
    )
    assert last.payload == {"product_id": 250, "quantity": 2}
    assert before <= rows[0].created_at <= last.created_at <= timezone.now()


def test_a_refused_batch_stays_pending_and_is_stored_later() -> None:
    for number in range(1, 4):
        view(number)
    with connection.execute_wrapper(refuse_inserts), pytest.raises(OperationalError):
        buffer.flush()
    assert buffer.pending() == 3
    assert not Event.objects.exists()

    assert buffer.flush() == 3
    assert list(Event.objects.order_by("pk").values_list("product_id", flat=True)) == [1, 2, 3]


def test_recording_never_fails_the_request(settings: Settings) -> None:
    settings.ANALYTICS_BATCH_SIZE = 1
    with connection.execute_wrapper(refuse_inserts):
        view(1)  # would be written at once, and the database refuses: logged, kept
    assert buffer.pending() == 1
    buffer.flush()
    assert Event.objects.get().product_id == 1


def test_an_unknown_event_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown analytics event"):
        services.track("page_scrolled", user_id=None, visitor_id="v")


def test_nothing_is_recorded_when_analytics_is_off(settings: Settings) -> None:
    settings.ANALYTICS_ENABLED = False
    view(1)
    assert buffer.pending() == 0


def test_an_oversized_payload_is_stored_within_the_cap() -> None:
    services.track(
        EventName.ORDER_PLACED,
        user_id=1,
        visitor_id="v",
        payload={"order_id": 7, "items": [{"product_id": n, "note": "n" * 300} for n in range(80)]},
    )
    buffer.flush()
    stored = Event.objects.get().payload
    assert stored["order_id"] == 7
    assert stored[services.TRUNCATED] is True
    assert len(str(stored)) <= services.MAX_PAYLOAD_BYTES


def test_events_older_than_the_flush_interval_are_handed_over_with_the_next_one(settings: Settings) -> None:
    view(1)
    assert buffer.pending() == 1 and len(buffer._memory) == 1
    settings.ANALYTICS_FLUSH_SECONDS = 0
    view(2)
    assert len(buffer._memory) == 0
    shared = buffer.shared_list()
    if shared is None:
        assert Event.objects.count() == 2
    else:
        assert len(shared) == 2 and not Event.objects.exists()


def test_a_checkout_start_is_handed_over_at_once_with_what_waited_before_it() -> None:
    view(1)
    services.track(EventName.CHECKOUT_STARTED, user_id=None, visitor_id="v1", payload={"cart_id": 3})
    assert len(buffer._memory) == 0
    shared = buffer.shared_list()
    stored = Event.objects.count() if shared is None else len(shared)
    assert stored == 2


# In Redis ---------------------------------------------------------------------------------------------------------


@needs_redis
def test_with_redis_recording_costs_no_round_trip_until_a_batch_is_due(
    settings: Settings, django_assert_num_queries: Any
) -> None:
    settings.ANALYTICS_BATCH_SIZE = 3
    shared = buffer.shared_list()
    assert isinstance(shared, RedisBuffer)
    with django_assert_num_queries(0):
        view(1)
        view(2)
    assert len(shared) == 0 and buffer.pending() == 2
    view(3)  # the batch is full: all three go to the list together
    assert len(shared) == 3 and len(buffer._memory) == 0


@needs_redis
def test_with_redis_a_quiet_process_hands_its_events_over_after_the_flush_interval(settings: Settings) -> None:
    settings.ANALYTICS_FLUSH_SECONDS = 0.2
    shared = buffer.shared_list()
    assert shared is not None
    view(1)
    assert len(shared) == 0
    deadline = time.monotonic() + 5
    while len(shared) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(shared) == 1 and len(buffer._memory) == 0


@needs_redis
def test_with_redis_several_workers_drain_the_list_without_storing_an_event_twice(settings: Settings) -> None:
    settings.ANALYTICS_BATCH_SIZE = 10
    for number in range(1, 96):
        view(number)
    buffer.hand_over()
    workers = [buffer.shared_list(), buffer.shared_list()]
    # Two workers take turns at the list, as two drain tasks running at once would.
    taken: list[list[int]] = [[], []]
    while buffer.pending():
        for index, worker in enumerate(workers):
            assert isinstance(worker, RedisBuffer)
            taken[index].append(worker.store_batch())
    assert sum(taken[0]) + sum(taken[1]) == 95
    assert sum(taken[0]) and sum(taken[1])
    assert list(Event.objects.order_by("product_id").values_list("product_id", flat=True)) == list(range(1, 96))


@needs_redis
def test_with_redis_the_list_keeps_only_the_newest_events_when_nothing_drains_it(settings: Settings) -> None:
    settings.ANALYTICS_BUFFER_MAX = 5
    settings.ANALYTICS_BATCH_SIZE = 2
    for number in range(1, 9):
        view(number)
    assert buffer.pending() == 5
    buffer.flush()
    assert list(Event.objects.order_by("product_id").values_list("product_id", flat=True)) == [4, 5, 6, 7, 8]


@needs_redis
def test_with_redis_a_refused_batch_goes_back_to_the_head_of_the_list(settings: Settings) -> None:
    settings.ANALYTICS_BATCH_SIZE = 2
    for number in range(1, 6):
        view(number)
    with connection.execute_wrapper(refuse_inserts), pytest.raises(OperationalError):
        buffer.flush()
    assert buffer.pending() == 5
    buffer.flush()
    assert list(Event.objects.order_by("pk").values_list("product_id", flat=True)) == [1, 2, 3, 4, 5]


def test_a_flush_waits_for_a_hand_over_on_its_way() -> None:
    view(1)
    holding, released = threading.Event(), []

    def hand_over_in_progress() -> None:  # as the timer's thread while it pushes its batch
        with buffer._hand_over_lock:
            holding.set()
            time.sleep(0.3)
            released.append(time.monotonic())

    other = threading.Thread(target=hand_over_in_progress)
    other.start()
    assert holding.wait(timeout=5)
    assert buffer.flush() == 1
    flushed = time.monotonic()
    other.join()
    assert released and released[0] <= flushed


def test_flush_is_what_the_minutely_task_runs() -> None:
    from patron.analytics.tasks import drain_events

    view(1)
    assert drain_events.call() == 1
    assert Event.objects.filter(created_at__gte=timezone.now() - timedelta(minutes=1)).count() == 1
