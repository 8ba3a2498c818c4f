"""Property-based fuzzing of the whole API from its OpenAPI schema: malformed input never yields a 500,
and every refusal is a JSON error body in the documented shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from pytest_django import Settings
from schemathesis.checks import not_a_server_error

from patron.accounts.testing import bearer, make_user
from patron.wsgi import application
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db(transaction=False)


schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture(autouse=True)
def keep_test_connection() -> Iterator[None]:
    """The app is called as plain WSGI, whose request signals would close the test's open transaction.

    Django's own test client detaches the same handler for the same reason."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def any_host(settings: Settings) -> None:
    """A generated path that starts with `//` reaches the WSGI app as another Host header; refusing unknown hosts
    is Django's own check (an HTML 400 before any API code runs), not part of the API's contract."""
    settings.ALLOWED_HOSTS = ["*"]


@pytest.fixture(autouse=True)
def small_catalog() -> None:
    """A few rows, so that generated ids and staff-only writes reach real products."""
    category = make_category("Audio")
    make_product("Bluetooth Headphones", category=category, brand="Sonora", price="59.99")
    make_product("Wired Earbuds", category=category, brand="Sonora", price="19.99", stock=0)


@schemathesis.check
def refusals_are_json_errors(ctx: Any, response: Any, case: Any) -> None:
    if 400 <= response.status_code < 500 and response.status_code not in (404, 405):
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, dict), f"{response.status_code} without an error object: {body!r}"
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"][0]) > 0


@pytest.fixture
def staff_headers() -> dict[str, str]:
    staff = make_user("staff@example.com", name="Staff Member", is_staff=True)
    authorization = bearer(staff)["HTTP_AUTHORIZATION"]
    return {"Authorization": authorization}


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_anonymous_requests_never_fail_with_a_server_error(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, refusals_are_json_errors])


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_staff_requests_never_fail_with_a_server_error(case: Any, staff_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=staff_headers, checks=[not_a_server_error, refusals_are_json_errors])
