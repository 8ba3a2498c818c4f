"""Failed sign-ins are throttled per account and per client IP, on the API and the web form.

The counters live in the Django cache, so with REDIS_URL set these same tests run against Redis.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from patron.accounts import services
from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user
from patron.errors import NotAuthenticated, RateLimited

pytestmark = pytest.mark.django_db

ACCOUNT_LIMIT = 3
IP_LIMIT = 5
WINDOW = 600


@pytest.fixture(autouse=True)
def limits(settings: Settings) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = ACCOUNT_LIMIT
    settings.LOGIN_MAX_FAILURES_PER_IP = IP_LIMIT
    settings.LOGIN_FAILURE_WINDOW_SECONDS = WINDOW


@pytest.fixture
def user() -> User:
    return make_user()


def api_login(client: Client, email: str, password: str, ip: str = "203.0.113.5") -> Any:
    return client.post(
        "/api/auth/login",
        json.dumps({"email": email, "password": password}),
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def test_the_cache_backend_is_the_configured_one() -> None:
    """Guards the Redis run: REDIS_URL must really put the counters in Redis."""
    expected = "RedisCache" if os.environ.get("REDIS_URL") else "LocMemCache"
    assert type(caches["default"]).__name__ == expected


def test_api_account_lockout_answers_429_with_retry_after(client: Client, user: User) -> None:
    for _ in range(ACCOUNT_LIMIT):
        assert api_login(client, user.email, "wrong password").status_code == 401
    # Even the right password is refused while the account is locked.
    response = api_login(client, user.email, PASSWORD)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= WINDOW


def test_account_lockout_applies_from_every_ip(client: Client, user: User) -> None:
    for n in range(ACCOUNT_LIMIT):
        api_login(client, user.email, "wrong password", ip=f"198.51.100.{n}")
    assert api_login(client, user.email, PASSWORD, ip="192.0.2.77").status_code == 429


def test_email_case_does_not_dodge_the_account_limit(client: Client, user: User) -> None:
    for variant in ("ADA@example.com", "Ada@Example.com", "ada@EXAMPLE.COM"):
        api_login(client, variant, "wrong password", ip="198.51.100.1")
    assert api_login(client, user.email, PASSWORD, ip="192.0.2.1").status_code == 429


def test_a_success_resets_the_account_counter(client: Client, user: User) -> None:
    for _ in range(ACCOUNT_LIMIT - 1):
        api_login(client, user.email, "wrong password")
    assert api_login(client, user.email, PASSWORD).status_code == 200
    for _ in range(ACCOUNT_LIMIT - 1):
        assert api_login(client, user.email, "wrong password").status_code == 401
    assert api_login(client, user.email, PASSWORD).status_code == 200


def test_per_ip_limit_spans_many_accounts(client: Client, user: User) -> None:
    attacker = "203.0.113.66"
    for n in range(IP_LIMIT):
        assert api_login(client, f"victim{n}@example.com", "guess", ip=attacker).status_code == 401
    blocked = api_login(client, user.email, PASSWORD, ip=attacker)
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    # The account itself is not locked: the same person from another network gets in.
    assert api_login(client, user.email, PASSWORD, ip="192.0.2.10").status_code == 200


def test_service_raises_rate_limited_with_retry_after(user: User) -> None:
    for _ in range(ACCOUNT_LIMIT):
        with pytest.raises(NotAuthenticated):
            services.authenticate_user(user.email, "wrong password", ip=None)
    with pytest.raises(RateLimited) as excinfo:
        services.authenticate_user(user.email, PASSWORD, ip=None)
    assert 0 < excinfo.value.retry_after <= WINDOW


def test_web_login_shows_a_form_error_when_locked(client: Client, user: User) -> None:
    url = reverse("accounts:login")
    for _ in range(ACCOUNT_LIMIT):
        response = client.post(url, {"email": user.email, "password": "wrong password"})
        assert response.status_code == 200
        assert "The email or password is incorrect." in response.content.decode()
    response = client.post(url, {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "Too many failed sign-in attempts" in page
    assert '<form method="post"' in page
    assert "_auth_user_id" not in client.session
