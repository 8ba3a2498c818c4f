"""Where events wait between the request that records them and the one INSERT that stores a batch of them.

Recording must not slow the page, so a request never writes an event row itself:

- With Redis (the default cache is Redis), an event is one pipelined RPUSH + LTRIM to a list, and `flush()`
  drains it with LPOP of up to ANALYTICS_BATCH_SIZE items at a time, one `bulk_create` per batch. LPOP with a
  count is atomic, so any number of workers may drain at once without storing an event twice. The list keeps at
  most ANALYTICS_BUFFER_MAX events (the oldest go first) should nothing drain it for a long while. The
  `drain_events` task drains it every minute.
- Without Redis, each process keeps its events in memory and writes them with one `bulk_create` once it holds
  ANALYTICS_BATCH_SIZE of them or the oldest is ANALYTICS_FLUSH_SECONDS old (checked when the next event comes),
  and when the process exits. That suits one machine; several web processes should share Redis.

Events are plain JSON dicts until they are stored, so both buffers hold the same thing. A batch that fails to
insert goes back to its buffer and the error is logged: analytics never breaks the request that records it.
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
    """One process's pending events, written when there are enough of them or they are old enough."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[BufferedEvent] = []
        self._oldest = 0.0

    def push(self, event: BufferedEvent) -> None:
        with self._lock:
            if not self._events:
                self._oldest = time.monotonic()
            self._events.append(event)
            due = (
                len(self._events) >= settings.ANALYTICS_BATCH_SIZE
                or time.monotonic() - self._oldest >= settings.ANALYTICS_FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            taken, self._events = self._events, []
        stored = 0
        for start in range(0, len(taken), settings.ANALYTICS_BATCH_SIZE):
            batch = taken[start : start + settings.ANALYTICS_BATCH_SIZE]
            try:
                stored += _store(batch)
            except Exception:
                self._put_back(taken[start:])
                raise
        return stored

    def _put_back(self, events: list[BufferedEvent]) -> None:
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

    def push(self, event: BufferedEvent) -> None:
        pipeline = self._client.pipeline(transaction=False)
        pipeline.rpush(self._key, json.dumps(event))
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


def current() -> MemoryBuffer | RedisBuffer:
    backend = caches["default"]
    return RedisBuffer(backend) if isinstance(backend, RedisCache) else _memory


def push(event: BufferedEvent) -> None:
    current().push(event)


def flush() -> int:
    """Store every pending event (this process's, and with Redis everyone's); returns how many were stored."""
    stored = _memory.flush()
    buffer = current()
    if buffer is not _memory:
        stored += buffer.flush()
    return stored


def pending() -> int:
    return len(current()) + (len(_memory) if current() is not _memory else 0)


def discard() -> None:
    """Drop what is pending without storing it (for tests that must start from an empty buffer)."""
    _memory.clear()
    current().clear()


def _flush_at_exit() -> None:
    if not _memory:
        return
    try:
        _memory.flush()
    except Exception:
        logger.exception("analytics: %d events could not be stored at exit", len(_memory))


atexit.register(_flush_at_exit)
