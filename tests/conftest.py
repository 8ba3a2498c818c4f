"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from pytest_django import Settings

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.analytics import buffer as analytics_buffer
from patron.recommendations.services import forget_shared_state
from tests.servers import Inbox, free_port


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
    """Rate limits, token revocations, page caches, buffered analytics events and the recommendations' copy of the
    shared state never leak from one test into another (nor into the process's exit, when the test database is
    gone)."""
    clear_cache()
    forget_shared_state()
    yield
    analytics_buffer.discard()
    clear_cache()
    forget_shared_state()


@pytest.fixture
def immediate_tasks(settings: Settings) -> None:
    """Run enqueued background tasks at once, in the test's own transaction."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def smtp_inbox(settings: Settings) -> Iterator[Inbox]:
    """Mail goes through a real SMTP server on loopback; links in it use a public-looking site address."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp = {"host": "127.0.0.1", "port": controller.port, "use_tls": False, "use_ssl": False, "timeout": 10}
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": smtp}}
    settings.SITE_URL = "https://shop.example.com"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def staff() -> User:
    """A member of staff (not a superuser); modules that need a superuser define their own."""
    return make_user("staff@example.com", name="Grace Hopper", is_staff=True)


@pytest.fixture
def customer() -> User:
    return make_user("ada@example.com")
