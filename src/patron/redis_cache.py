"""Django's Redis cache with one Redis client per connection pool, kept for the life of the process.

Django's client builds a new `redis.Redis` for every cache operation. The connections themselves are pooled,
but building the client (its table of response callbacks) costs about as much CPU as the round trip it makes,
and a recommendations or API call makes several. A `redis.Redis` on a shared pool is safe to use from many
threads, and after a fork the pool opens fresh connections by itself, so one client per pool serves them all.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class PersistentRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Keyed by the pool: with replicas, each read picks its pool at random. (Django's stubs leave out the
        # client's private helpers that this builds on.)
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = PersistentRedisCacheClient
