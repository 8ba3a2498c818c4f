"""Where events wait between the request that records them and the one INSERT that stores a batch of them.

Recording must not slow the page, so a request never writes an event row of its own, nor makes a round trip
for it. Each process keeps its events in memory and hands them over as a batch once it holds
ANALYTICS_BATCH_SIZE of them or the oldest is ANALYTICS_FLUSH_SECONDS old, and when the process exits:

- With Redis (the default cache is Redis), the batch goes to a list shared by every process, in one pipelined
  RPUSH + LTRIM; a timer hands over a quiet process's events once they are ANALYTICS_FLUSH_SECONDS old. `flush()`
  drains the list with LPOP of up to ANALYTICS_BATCH_SIZE items at a time, one `bulk_create` per batch. LPOP
  with a count is atomic, so any number of workers may drain at once without storing an event twice. The list
  keeps at most ANALYTICS_BUFFER_MAX events (the oldest go first) should nothing drain it for a long while. The
  `drain_events` task drains it every minute.
- Without Redis, the batch is stored at once (checked when the next event comes). That suits one machine;
  several web processes should share Redis.

Some events are handed over at once, with whatever waits before them (`push(..., at_once=True)`): those that
another process looks up soon after, such as the checkout start that the order's worker joins to its visitor.

Events are plain JSON dicts until they are stored, so both places hold the same thing. A batch that fails to
insert goes back where it came from and the error is logged: analytics never breaks the request that records it.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.utils.dateparse import parse_datetime

from patron.analytics.models import Event

logger = logging.getLogger(__name__)

BufferedEvent = dict[str, Any]
REDIS_LIST = "analytics:events"


def _store(batch: Sequence[BufferedEvent]) -> int:
    """One INSERT for the whole batch, as long as it fits the database's limit on query parameters (Django splits
    a bigger one); the default batch of 100 events, 7 columns each, fits SQLite's and PostgreSQL's."""
    rows = [
        Event(
            name=item["name"],
            user_id=item["user_id"],
            visitor_id=item["visitor_id"],
            session_key=item["session_key"],
            product_id=item["product_id"],
            payload=item["payload"],
            created_at=_time(item["created_at"]),
        )
        for item in batch
    ]
    Event.objects.bulk_create(rows, batch_size=len(rows))
    return len(rows)


def _time(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed


class MemoryBuffer:
    """One process's pending events, due for hand-over when there are enough of them or they are old enough."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[BufferedEvent] = []
        self._oldest = 0.0

    def add(self, event: BufferedEvent) -> bool:
        """Keep `event`; True when the events are due for hand-over."""
        with self._lock:
            if not self._events:
                self._oldest = time.monotonic()
            self._events.append(event)
            return (
                len(self._events) >= settings.ANALYTICS_BATCH_SIZE
                or time.monotonic() - self._oldest >= settings.ANALYTICS_FLUSH_SECONDS
            )

    def take(self) -> list[BufferedEvent]:
        with self._lock:
            taken, self._events = self._events, []
        return taken

    def put_back(self, events: list[BufferedEvent]) -> None:
        """Events that could not be handed over go back in front of those that came meanwhile."""
        with self._lock:
            kept = (events + self._events)[-settings.ANALYTICS_BUFFER_MAX :]
            if not self._events:
                self._oldest = time.monotonic()
            self._events = kept

    def __len__(self) -> int:
        return len(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events = []


class RedisBuffer:
    """Events of every process in one Redis list, under the cache's key prefix."""

    def __init__(self, backend: RedisCache) -> None:
        self._client = backend._cache.get_client(write=True)
        self._key = backend.make_key(REDIS_LIST)

    def push_many(self, events: Sequence[BufferedEvent]) -> None:
        pipeline = self._client.pipeline(transaction=False)
        pipeline.rpush(self._key, *(json.dumps(event) for event in events))
        pipeline.ltrim(self._key, -settings.ANALYTICS_BUFFER_MAX, -1)
        pipeline.execute()

    def store_batch(self) -> int:
        """Take up to one batch off the head of the list and store it; 0 once the list is empty."""
        raw = cast(list[bytes] | None, self._client.lpop(self._key, settings.ANALYTICS_BATCH_SIZE))
        if not raw:
            return 0
        try:
            return _store([json.loads(item) for item in raw])
        except Exception:
            # Back to the head of the list, in their order, for the next drain.
            self._client.lpush(self._key, *reversed(raw))
            raise

    def flush(self) -> int:
        stored = 0
        while batch := self.store_batch():
            stored += batch
        return stored

    def __len__(self) -> int:
        return int(self._client.llen(self._key))

    def clear(self) -> None:
        self._client.delete(self._key)


_memory = MemoryBuffer()
_hand_over_lock = threading.Lock()
_timer_lock = threading.Lock()
_timer: threading.Timer | None = None


def shared_list() -> RedisBuffer | None:
    """The Redis list every process hands its events to, or None without Redis."""
    backend = caches["default"]
    return RedisBuffer(backend) if isinstance(backend, RedisCache) else None


def push(event: BufferedEvent, *, at_once: bool = False) -> None:
    due = _memory.add(event)
    if due or at_once:
        hand_over()
    else:
        _start_timer()


def hand_over() -> int:
    """This process's pending events to the Redis list, or without Redis into the table in batches of one INSERT
    each; returns how many were stored in the table.

    One hand-over at a time per process: a flush waits for the timer's batch to arrive rather than draining the
    list while that batch is on its way."""
    with _hand_over_lock:
        return _hand_over()


def _hand_over() -> int:
    events = _memory.take()
    if not events:
        return 0
    shared = shared_list()
    if shared is not None:
        try:
            shared.push_many(events)
        except Exception:
            _memory.put_back(events)
            raise
        return 0
    stored = 0
    for start in range(0, len(events), settings.ANALYTICS_BATCH_SIZE):
        try:
            stored += _store(events[start : start + settings.ANALYTICS_BATCH_SIZE])
        except Exception:
            _memory.put_back(events[start:])
            raise
    return stored


def _start_timer() -> None:
    """With Redis, hand over a quiet process's events once they are ANALYTICS_FLUSH_SECONDS old (one timer at a
    time; the shared list is looked up only when no timer is running, not for every event)."""
    global _timer
    with _timer_lock:
        if (_timer is not None and _timer.is_alive()) or shared_list() is None:
            return
        _timer = threading.Timer(settings.ANALYTICS_FLUSH_SECONDS, _hand_over_logged)
        _timer.daemon = True
        _timer.start()


def _hand_over_logged() -> None:
    try:
        hand_over()
    except Exception:
        logger.exception("analytics: %d events could not be handed over", len(_memory))


def flush() -> int:
    """Store every pending event (this process's, and with Redis everyone's); returns how many were stored."""
    stored = hand_over()
    shared = shared_list()
    if shared is not None:
        stored += shared.flush()
    return stored


def pending() -> int:
    shared = shared_list()
    return len(_memory) + (len(shared) if shared is not None else 0)


def discard() -> None:
    """Drop what is pending without storing it (for tests that must start from an empty buffer)."""
    global _timer
    with _timer_lock:
        if _timer is not None:
            _timer.cancel()
            _timer = None
    _memory.clear()
    shared = shared_list()
    if shared is not None:
        shared.clear()


def _hand_over_at_exit() -> None:
    if _memory:
        _hand_over_logged()


atexit.register(_hand_over_at_exit)
