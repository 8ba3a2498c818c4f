"""Anonymous API reads of the catalog are served from the shared response cache; token holders never are."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from patron.accounts.testing import bearer, make_user
from patron.catalog import services
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db


def test_an_anonymous_product_list_is_answered_from_the_cache_until_the_catalog_changes(client: Client) -> None:
    audio = make_category("Audio")
    headphones = make_product("Studio Headphones", category=audio, brand="Sonora", price="99.00")

    first = client.get("/api/products/", {"q": "headphones"})
    assert first["X-Page-Cache"] == "miss"
    with CaptureQueriesContext(connection) as queries:
        second = client.get("/api/products/", {"q": "headphones"})
    assert second["X-Page-Cache"] == "hit"
    assert len(queries) == 0
    assert second.json() == first.json()
    assert second["Content-Type"] == "application/json; charset=utf-8"

    staff = make_user("staff@example.com", is_staff=True)
    services.update_product(
        staff,
        headphones.pk,
        services.ProductData(
            name="Studio Headphones Mk II",
            category=audio.pk,
            brand="Sonora",
            variants=[services.VariantData(sku="STUDIO-2", price=Decimal("89.00"), stock=3)],
        ),
    )
    after = client.get("/api/products/", {"q": "headphones"})
    assert after["X-Page-Cache"] == "miss"
    assert [item["name"] for item in after.json()["items"]] == ["Studio Headphones Mk II"]


def test_token_holders_bypass_the_cache_and_see_what_their_role_allows(client: Client) -> None:
    hidden = make_product("Prototype Speaker", is_active=False)
    make_product("Pocket Speaker")
    staff = make_user("staff@example.com", is_staff=True)

    assert client.get(f"/api/products/{hidden.pk}").status_code == 404
    client.get("/api/products/")
    anonymous_again = client.get("/api/products/")
    assert anonymous_again["X-Page-Cache"] == "hit"

    as_staff = client.get(f"/api/products/{hidden.pk}", **bearer(staff))
    assert as_staff.status_code == 200
    assert as_staff.json()["name"] == "Prototype Speaker"
    staff_list = client.get("/api/products/", **bearer(staff))
    assert not staff_list.has_header("X-Page-Cache")


def test_a_cache_that_keeps_nothing_still_serves_fresh_pages(client: Client, settings: Settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    make_product("Pocket Speaker")
    assert services.catalog_version() > 0
    response = client.get("/api/products/")
    assert response.status_code == 200
    assert response.json()["total"] == 1
    assert client.get("/api/products/")["X-Page-Cache"] == "miss"


def test_the_product_collection_answers_without_a_trailing_slash(client: Client) -> None:
    make_product("Pocket Speaker")
    listed = client.get("/api/products", {"q": "speaker"})
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()["items"]] == ["Pocket Speaker"]

    staff = make_user("staff@example.com", is_staff=True)
    created = client.post(
        "/api/products",
        {"name": "Desk Lamp", "category": "general", "price": "24.00", "stock": 2},
        content_type="application/json",
        **bearer(staff),
    )
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "Desk Lamp"
