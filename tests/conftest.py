"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from pytest_django import Settings


def clear_cache() -> None:
    """Empty this test process's cache; on Redis only its own keys, since parallel workers share the server."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{backend.key_prefix}:*"))
        if keys:
            client.delete(*keys)
    else:
        backend.clear()


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Rate limits, token revocations and page caches never leak from one test into another."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def immediate_tasks(settings: Settings) -> None:
    """Run enqueued background tasks at once, in the test's own transaction."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
