"""Patron's Redis cache backend keeps one Redis client per connection pool instead of one per operation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from patron.redis_cache import RedisCache

REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture
def backend() -> Iterator[RedisCache]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip(f"needs a Redis server at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4().hex}"
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})
    yield cache
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_every_operation_uses_the_same_client_on_the_same_pool(backend: RedisCache) -> None:
    first = backend._cache.get_client(write=True)
    assert backend._cache.get_client(write=True) is first
    assert backend._cache.get_client() is first  # one server: reads and writes share its pool


def test_cache_operations_work_through_the_kept_client(backend: RedisCache) -> None:
    backend.set("price", {"amount": "12.50"}, 60)
    backend.set_many({"a": 1, "b": [2, 3]}, 60)
    assert backend.get("price") == {"amount": "12.50"}
    assert backend.get_many(["a", "b", "missing"]) == {"a": 1, "b": [2, 3]}
    assert backend.incr("a") == 2
    backend.delete("price")
    assert backend.get("price") is None
    # Every operation went through one pooled connection, not a new one each.
    pool = backend._cache.get_client(write=True).connection_pool
    assert len(pool._available_connections) + len(pool._in_use_connections) == 1


def test_replicas_get_a_client_each() -> None:
    cache = RedisCache(f"{REDIS_URL},redis://127.0.0.1:6379/12", {})
    writer = cache._cache.get_client(write=True)
    reader = cache._cache.get_client()
    assert writer is not reader
    assert reader.connection_pool is not writer.connection_pool
    assert cache._cache.get_client() is reader  # one replica: the same pool every time
