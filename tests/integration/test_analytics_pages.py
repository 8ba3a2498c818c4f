"""What pages carry for analytics: the shared, cached catalog pages only catalog data and never a visitor's cookie or
id; GA4 markup only when a measurement id is configured; GA4's e-commerce events on each page."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client
from pytest_django import Settings

from patron.analytics import buffer
from patron.analytics.visitor import COOKIE_NAME
from patron.catalog.models import Product
from patron.orders.placement import order_access_token
from tests.factories import make_category, make_product
from tests.order_factories import make_order

pytestmark = pytest.mark.django_db

GA4_ID = "G-TEST12345"
Capture = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(autouse=True)
def empty_buffer(settings: Settings, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path
    buffer.discard()
    yield
    buffer.discard()


@pytest.fixture
def kettle() -> Product:
    kitchen = make_category("Kitchen")
    return make_product("Steel Kettle", category=kitchen, brand="Brewer", price="45.00", stock=4)


@pytest.fixture
def ga4_on(settings: Settings) -> None:
    settings.GA4_MEASUREMENT_ID = GA4_ID


def page_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="patron-analytics" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no analytics data in the page"
    return dict(json.loads(match.group(1)))


def visitor_cookie(client: Client) -> str:
    """Give the client a visitor id the way a browser gets one: from its first report."""
    client.post("/api/analytics/events", {"name": "product_viewed", "payload": {"product_id": 1}}, "application/json")
    return client.cookies[COOKIE_NAME].value


# The page cache ---------------------------------------------------------------------------------------------------


def test_a_cached_page_never_carries_a_visitors_cookie_or_id(kettle: Product) -> None:
    ada, bob, newcomer = Client(), Client(), Client()
    ada_cookie, bob_cookie = visitor_cookie(ada), visitor_cookie(bob)
    ada_id, bob_id = ada_cookie.split(":")[0], bob_cookie.split(":")[0]
    url = f"/p/{kettle.slug}/"

    rendered = ada.get(url)  # rendered for Ada, stored for everyone
    served = [bob.get(url), newcomer.get(url)]

    assert rendered["X-Page-Cache"] == "miss"
    assert [response["X-Page-Cache"] for response in served] == ["hit", "hit"]
    for response in [rendered, *served]:
        assert not response.cookies
        assert response.content == rendered.content
        html = response.content.decode()
        assert ada_id not in html and bob_id not in html
        assert COOKIE_NAME not in html
    (entry,) = cached_pages()
    assert set(entry["headers"]) <= {"Content-Type", "Content-Language", "Vary"}
    assert entry["content"] == rendered.content


def cached_pages() -> list[dict[str, Any]]:
    """Every entry of the page cache (the cache holds only this test's keys)."""
    backend: Any = caches["default"]
    pattern = backend.make_key("page:*")
    if isinstance(backend, RedisCache):
        keys = [key.decode() for key in backend._cache.get_client(write=True).scan_iter(match=pattern)]
    else:
        keys = [key for key in backend._cache if fnmatch(key, pattern)]
    prefix = backend.make_key("")
    return [cache.get(key.removeprefix(prefix)) for key in keys]


def test_a_cache_hit_still_costs_no_query_with_analytics_and_ga4(
    client: Client, kettle: Product, ga4_on: None, django_assert_num_queries: Any
) -> None:
    visitor_cookie(client)
    client.get(f"/p/{kettle.slug}/")
    with django_assert_num_queries(0):
        assert client.get(f"/p/{kettle.slug}/")["X-Page-Cache"] == "hit"


# Page data --------------------------------------------------------------------------------------------------------


def test_the_product_page_reports_its_view_and_nothing_of_ga4_by_default(client: Client, kettle: Product) -> None:
    html = client.get(f"/p/{kettle.slug}/").content.decode()
    data = page_data(html)
    assert data["collect"] == "/api/analytics/events"
    assert data["events"] == [{"name": "product_viewed", "payload": {"product_id": kettle.pk}}]
    assert data["ga4"] is None
    assert "googletagmanager" not in html
    assert "gtag" not in html
    assert "consent-banner" not in html
    assert "/static/analytics/analytics.js" in html


def test_the_search_page_reports_the_query_and_result_count(client: Client, kettle: Product) -> None:
    make_product("Glass Kettle", price="30.00")
    data = page_data(client.get("/search/?q=kettle").content.decode())
    assert data["events"] == [{"name": "search_performed", "payload": {"query": "kettle", "result_count": 2}}]
    nothing = page_data(client.get("/search/?q=zzzzqqq").content.decode())
    assert nothing["events"][0]["payload"] == {"query": "zzzzqqq", "result_count": 0}
    assert page_data(client.get("/search/").content.decode())["events"] == []


def test_without_analytics_or_ga4_pages_carry_no_script(client: Client, kettle: Product, settings: Settings) -> None:
    settings.ANALYTICS_ENABLED = False
    html = client.get(f"/p/{kettle.slug}/").content.decode()
    assert "patron-analytics" not in html
    assert "analytics.js" not in html
    settings.GA4_MEASUREMENT_ID = GA4_ID
    data = page_data(client.get(f"/c/{kettle.category.slug}/").content.decode())
    assert data["track"] is False and data["events"] == []
    assert data["ga4"]["id"] == GA4_ID


# GA4 --------------------------------------------------------------------------------------------------------------


def test_with_ga4_pages_carry_the_consent_banner_and_view_item(client: Client, kettle: Product, ga4_on: None) -> None:
    response = client.get(f"/p/{kettle.slug}/")
    html = response.content.decode()
    assert not response.cookies
    # The banner waits hidden for the script, which shows it until the visitor has chosen.
    assert re.search(r'<section class="consent-banner" id="consent-banner" [^>]*hidden>', html)
    assert '<button type="button" class="button button-primary" data-consent="granted">Accept</button>' in html
    assert '<button type="button" class="button" data-consent="denied">Decline</button>' in html
    # Google's script is loaded by the page's script after consent, never by the page itself.
    assert "googletagmanager" not in html
    ga = page_data(html)["ga4"]
    assert ga["id"] == GA4_ID and ga["cookie"] == "patron_consent" and ga["trigger"] == "patron:ga4"
    variant = kettle.variants.get()
    assert ga["events"] == [
        {
            "event": "view_item",
            "params": {
                "currency": "USD",
                "value": 45.0,
                "items": [
                    {
                        "item_id": str(kettle.pk),
                        "item_name": "Steel Kettle",
                        "price": 45.0,
                        "item_brand": "Brewer",
                        "item_category": "Kitchen",
                        "item_variant": variant.sku,
                        "quantity": 1,
                    }
                ],
            },
        }
    ]


def test_with_ga4_listings_carry_view_item_list_and_search(client: Client, kettle: Product, ga4_on: None) -> None:
    category = page_data(client.get(f"/c/{kettle.category.slug}/").content.decode())["ga4"]["events"]
    assert [event["event"] for event in category] == ["view_item_list"]
    assert category[0]["params"]["item_list_id"] == "kitchen"
    assert category[0]["params"]["items"][0]["item_id"] == str(kettle.pk)
    search = page_data(client.get("/search/?q=kettle").content.decode())["ga4"]["events"]
    assert search[0] == {"event": "search", "params": {"search_term": "kettle"}}
    assert search[1]["event"] == "view_item_list" and search[1]["params"]["items"][0]["index"] == 0


def test_with_ga4_the_checkout_page_carries_begin_checkout_once(client: Client, kettle: Product, ga4_on: None) -> None:
    client.post("/cart/add/", {"product_id": kettle.pk, "quantity": 2})
    ga = page_data(client.get("/checkout/").content.decode())["ga4"]
    (begin,) = ga["events"]
    assert begin["event"] == "begin_checkout"
    assert begin["params"]["currency"] == "USD"
    assert begin["params"]["items"][0]["quantity"] == 2
    assert begin["params"]["value"] > 0
    # The form sent back with an error is the same checkout.
    again = client.post("/checkout/", {"email": "not-an-email", "idempotency_key": "k"})
    assert page_data(again.content.decode())["ga4"]["events"] == []


def test_with_ga4_the_confirmation_page_carries_the_purchase(client: Client, kettle: Product, ga4_on: None) -> None:
    order = make_order([(kettle.variants.get(), 2)], email="grace@example.com", shipping="4.99")
    html = client.get(f"/orders/{order.number}/confirmation/?token={order_access_token(order)}").content.decode()
    (purchase,) = page_data(html)["ga4"]["events"]
    assert purchase == {
        "event": "purchase",
        "params": {
            "transaction_id": order.number,
            "currency": "USD",
            "value": 90.0,
            "tax": 0.0,
            "shipping": 4.99,
            "items": [
                {
                    "item_id": str(kettle.pk),
                    "item_name": "Steel Kettle",
                    "price": 45.0,
                    "item_variant": kettle.variants.get().sku,
                    "quantity": 2,
                }
            ],
        },
    }
