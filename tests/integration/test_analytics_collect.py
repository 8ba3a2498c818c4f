"""POST /api/analytics/events: what cached pages report, without a CSRF token, checked, bounded and rate-limited;
and the visitor cookie that says who reported it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from pytest_django import Settings

from patron.accounts.models import User
from patron.analytics import buffer
from patron.analytics.models import Event, EventName
from patron.analytics.visitor import COOKIE_NAME

pytestmark = pytest.mark.django_db

URL = "/api/analytics/events"


@pytest.fixture(autouse=True)
def empty_buffer() -> Iterator[None]:
    buffer.discard()
    yield
    buffer.discard()


@pytest.fixture
def client() -> Client:
    # Cached pages carry no CSRF token, so the endpoint must work without one even where CSRF is enforced.
    return Client(enforce_csrf_checks=True)


def report(client: Client, name: str, payload: Any, *, content_type: str = "application/json", **extra: Any) -> Any:
    return client.post(URL, json.dumps({"name": name, "payload": payload}), content_type=content_type, **extra)


def stored() -> list[Event]:
    buffer.flush()
    return list(Event.objects.order_by("pk"))


def test_a_product_view_is_recorded_for_the_visitor_it_hands_a_cookie_to(client: Client) -> None:
    response = report(client, "product_viewed", {"product_id": 42})

    assert response.status_code == 202
    assert response.json() == {"accepted": "product_viewed"}
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) > 365 * 24 * 3600
    (event,) = stored()
    assert event.name == EventName.PRODUCT_VIEWED
    assert event.product_id == 42
    assert event.payload == {"product_id": 42}
    assert event.user_id is None
    assert event.visitor_id and event.visitor_id in cookie.value

    # The browser sends its cookie back from then on: the same visitor, and no new cookie.
    again = report(client, "product_viewed", {"product_id": 43})
    assert COOKIE_NAME not in again.cookies
    assert {event.visitor_id for event in stored()} == {stored()[0].visitor_id}


def test_a_signed_in_shopper_is_recorded_with_their_account_and_session(client: Client, customer: User) -> None:
    client.force_login(customer)
    assert report(client, "search_performed", {"query": "mug", "result_count": 3}).status_code == 202
    (event,) = stored()
    assert event.user_id == customer.pk
    assert event.session_key == client.session.session_key
    assert event.payload == {"query": "mug", "result_count": 3}


def test_sendbeacon_bodies_in_text_plain_are_read_as_json(client: Client) -> None:
    shown = {"recommendation_id": "8d1c", "slot": "home", "model": "als@4", "product_ids": [3, 4, 5]}
    assert report(client, "recommendation_shown", shown, content_type="text/plain;charset=UTF-8").status_code == 202
    clicked = {"recommendation_id": "8d1c", "slot": "home", "model": "als@4", "product_id": 4}
    assert report(client, "recommendation_clicked", clicked, content_type="text/plain").status_code == 202
    events = stored()
    assert [event.name for event in events] == ["recommendation_shown", "recommendation_clicked"]
    assert events[0].payload == shown
    assert events[1].product_id == 4


@pytest.mark.parametrize(
    ("name", "payload", "field"),
    [
        ("cart_item_added", {"product_id": 1}, "name"),
        ("order_placed", {"order_id": 1}, "name"),
        ("product_viewed", {"product_id": "1; DROP TABLE"}, "payload.product_id"),
        ("product_viewed", {"product_id": 1, "note": "x"}, "payload.note"),
        ("search_performed", {"query": "q" * 500, "result_count": 1}, "payload.query"),
    ],
)
def test_bad_events_get_a_clear_422(client: Client, name: str, payload: Any, field: str) -> None:
    response = report(client, name, payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"]
    assert stored() == []


def test_an_oversized_or_unreadable_body_is_refused(client: Client) -> None:
    big = client.post(URL, b"{" + b" " * 5000 + b"}", content_type="application/json")
    assert big.status_code == 422
    assert "bytes" in big.json()["error"]["message"]
    assert client.post(URL, b"<xml/>", content_type="application/xml").status_code == 422
    assert stored() == []


def test_each_visitor_is_rate_limited(client: Client, settings: Settings) -> None:
    settings.ANALYTICS_COLLECT_PER_MINUTE = 3
    statuses = [report(client, "product_viewed", {"product_id": 1}).status_code for _ in range(5)]
    # The first report comes without a cookie (counted by address only), the next three with it.
    assert statuses == [202, 202, 202, 202, 429]
    limited = report(client, "product_viewed", {"product_id": 1})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Someone else on the same address is not held back by this visitor.
    assert report(Client(), "product_viewed", {"product_id": 1}).status_code == 202
    assert len(stored()) == 5


def test_an_address_is_rate_limited_however_many_cookies_it_drops(settings: Settings) -> None:
    settings.ANALYTICS_COLLECT_PER_MINUTE_PER_IP = 4
    statuses = [report(Client(), "product_viewed", {"product_id": 1}).status_code for _ in range(6)]
    assert statuses == [202, 202, 202, 202, 429, 429]
    other = report(Client(REMOTE_ADDR="10.0.0.9"), "product_viewed", {"product_id": 1})
    assert other.status_code == 202


def test_a_made_up_visitor_id_is_not_believed(client: Client) -> None:
    client.cookies[COOKIE_NAME] = "someone-elses-id"
    response = report(client, "product_viewed", {"product_id": 1})
    assert response.status_code == 202
    (event,) = stored()
    assert event.visitor_id != "someone-elses-id"
    assert event.visitor_id in response.cookies[COOKIE_NAME].value


def test_nothing_is_recorded_or_handed_out_when_analytics_is_off(client: Client, settings: Settings) -> None:
    settings.ANALYTICS_ENABLED = False
    response = report(client, "product_viewed", {"product_id": 1})
    assert response.status_code == 202
    assert COOKIE_NAME not in response.cookies
    assert stored() == []


def test_the_endpoint_is_documented() -> None:
    schema = Client().get("/api/openapi.json").json()
    operation = schema["paths"][URL]["post"]
    assert "202" in operation["responses"]
    assert "text/plain" in operation["requestBody"]["content"]
