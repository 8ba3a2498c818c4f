"""GET /api/recommendations and the storefront widgets: shapes, callers, bad input, and pages that stay shareable."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from patron.accounts.testing import bearer, make_user
from patron.analytics import buffer
from patron.analytics.models import Event, EventName
from patron.analytics.visitor import COOKIE_NAME, COOKIE_SALT
from patron.cart import services as cart_services
from patron.catalog.models import Category, Product, Variant
from patron.catalog.services import bump_catalog_version
from patron.recommendations.api import RecommendationsOut
from patron.recommendations.services import MAX_LIMIT
from tests.factories import make_category, make_product
from tests.integration.test_recommendations_serving import bought, stored_version, viewed

pytestmark = pytest.mark.django_db

URL = "/api/recommendations/"
WIDGET = reverse("recommendations:widget")


@pytest.fixture(autouse=True)
def _empty_event_buffer() -> None:
    buffer.discard()


@pytest.fixture
def kitchen() -> Category:
    return make_category("Kitchen")


@pytest.fixture
def shop(kitchen: Category) -> dict[str, Product]:
    names = ("kettle", "teapot", "mug", "beans")
    return {name: make_product(name.capitalize(), category=kitchen, brand="Acme", price="12.50") for name in names}


def q(**params: str | int) -> dict[str, str | int]:
    """Query parameters, typed for the test client."""
    return params


def ids(body: dict[str, Any]) -> list[int]:
    return [item["product_id"] for item in body["items"]]


def test_an_anonymous_caller_gets_items_the_model_and_an_id_to_credit_clicks(
    client: Client, shop: dict[str, Product]
) -> None:
    kettle, teapot = shop["kettle"], shop["teapot"]
    version = stored_version(similar={kettle.pk: [teapot.pk]})
    Variant.objects.filter(product=teapot).update(compare_at_price=Decimal("15.00"))
    bump_catalog_version()
    response = client.get(URL, q(context="product", product_id=kettle.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "recommendation_id", "context", "type", "slot", "title", "model", "version", "strategy", "items",
    }  # fmt: skip
    RecommendationsOut.model_validate(body)
    assert body["context"] == "product" and body["type"] == "similar" and body["slot"] == "product_similar"
    assert body["model"] == version.label and body["version"] == version.version
    assert body["title"] == "Similar items"
    [item] = body["items"]
    assert item["product_id"] == teapot.pk
    assert item["name"] == "Teapot" and item["brand"] == "Acme" and item["slug"] == teapot.slug
    assert item["url"] == f"/p/{teapot.slug}/"
    assert item["price"] == "12.50" and item["compare_at_price"] == "15.00" and item["price_is_range"] is False
    assert item["image_url"] is None
    assert client.get(URL.rstrip("/"), q(context="product", product_id=kettle.pk)).status_code == 200
    buffer.flush()
    shown = Event.objects.get(name=EventName.RECOMMENDATION_SHOWN, payload__recommendation_id=body["recommendation_id"])
    assert shown.payload["product_ids"] == [teapot.pk]


def test_a_signed_in_caller_gets_their_own_recommendations(client: Client, shop: dict[str, Product]) -> None:
    ada, bea = make_user("ada@example.com"), make_user("bea@example.com")
    stored_version(users={ada.pk: [shop["beans"].pk]}, trending={None: [shop["mug"].pk]})
    mine = client.get(URL, q(context="home", limit=1), **bearer(ada)).json()
    RecommendationsOut.model_validate(mine)
    assert (mine["strategy"], ids(mine)) == ("personalized", [shop["beans"].pk])
    theirs = client.get(URL, q(context="account", limit=1), **bearer(bea)).json()
    assert (theirs["strategy"], ids(theirs)) == ("trending", [shop["mug"].pk])
    anonymous = client.get(URL, q(context="home", limit=1)).json()
    assert ids(anonymous) == [shop["mug"].pk]


def test_a_bad_bearer_token_is_refused_rather_than_served_as_anonymous(
    client: Client, shop: dict[str, Product]
) -> None:
    response = client.get(URL, q(context="home"), HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_guest_cart_named_by_its_token_is_left_out(client: Client, shop: dict[str, Product]) -> None:
    stored_version(bought_together={shop["kettle"].pk: [shop["teapot"].pk, shop["mug"].pk]})
    cart = cart_services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, shop["kettle"].variants.get().pk, 1)
    cart_services.add_item(cart, shop["mug"].variants.get().pk, 1)
    body = client.get(URL, q(context="cart"), HTTP_X_CART_TOKEN=cart.token).json()
    assert ids(body) == [shop["teapot"].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "context"),
        ({"context": "checkout"}, "context"),
        ({"context": "product"}, "product_id"),
        ({"context": "product", "product_id": "x"}, "product_id"),
        ({"context": "product", "product_id": "0"}, "product_id"),
        ({"context": "home", "limit": "0"}, "limit"),
        ({"context": "home", "limit": str(MAX_LIMIT + 1)}, "limit"),
        ({"context": "home", "type": "similar"}, "type"),
        ({"context": "home", "type": "everything"}, "type"),
        ({"context": "category"}, "category"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(
    client: Client, shop: dict[str, Product], params: dict[str, str], field: str
) -> None:
    response = client.get(URL, params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"]


def test_an_unknown_product_or_category_is_a_404(client: Client, shop: dict[str, Product]) -> None:
    assert client.get(URL, q(context="product", product_id=987_654)).status_code == 404
    assert client.get(URL, q(context="category", category="nowhere")).status_code == 404


def test_the_endpoint_is_documented(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/recommendations/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"context", "type", "product_id", "limit"}


# --- Widgets ----------------------------------------------------------------------------------------------------------


def test_a_widget_carries_the_analytics_contract(client: Client, shop: dict[str, Product]) -> None:
    kettle, teapot, mug = shop["kettle"], shop["teapot"], shop["mug"]
    version = stored_version(similar={kettle.pk: [teapot.pk, mug.pk]})
    response = client.get(WIDGET, q(context="product", type="similar", product_id=kettle.pk))
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    html = response.content.decode()
    assert 'data-recommendation-id="' in html
    assert 'data-slot="product_similar"' in html
    assert f'data-model="{version.label}"' in html
    assert f'href="/p/{teapot.slug}/" data-product-id="{teapot.pk}"' in html
    assert f'data-product-id="{mug.pk}"' in html
    assert "Similar items" in html
    # The page's script reports the widget once it is in view; the server does not count it a second time.
    buffer.flush()
    assert not Event.objects.filter(name=EventName.RECOMMENDATION_SHOWN).exists()


def test_an_empty_widget_removes_its_placeholder_and_bad_input_is_a_400(
    client: Client, shop: dict[str, Product]
) -> None:
    stored_version()
    empty = client.get(WIDGET, q(context="product", type="similar", product_id=shop["kettle"].pk))
    assert empty.status_code == 200 and empty.content == b""
    assert client.get(WIDGET, q(context="somewhere")).status_code == 400
    assert client.get(WIDGET, q(context="product", product_id=987_654)).status_code == 404


def test_a_returning_visitor_gets_what_is_similar_to_what_their_browser_viewed(
    client: Client, shop: dict[str, Product]
) -> None:
    kettle, teapot, mug = shop["kettle"], shop["teapot"], shop["mug"]
    stored_version(similar={kettle.pk: [teapot.pk]}, trending={None: [mug.pk]})
    viewed(kettle, visitor="returning-visitor")
    issued = HttpResponse()
    issued.set_signed_cookie(COOKIE_NAME, "returning-visitor", salt=COOKIE_SALT)
    client.cookies[COOKIE_NAME] = issued.cookies[COOKIE_NAME].value
    body = client.get(URL, q(context="home", limit=1)).json()
    assert (body["strategy"], ids(body)) == ("history", [teapot.pk])
    html = client.get(WIDGET, q(context="home", type="recently_viewed")).content.decode()
    assert f'data-product-id="{kettle.pk}"' in html
    # A browser without the cookie is new: nothing to look up, trending it is.
    assert ids(Client().get(URL, q(context="home", limit=1)).json()) == [mug.pk]


def test_a_signed_in_shoppers_widget_is_theirs(client: Client, shop: dict[str, Product]) -> None:
    ada = make_user("ada@example.com")
    stored_version(users={ada.pk: [shop["beans"].pk]}, trending={None: [shop["mug"].pk]})
    bought(shop["kettle"], user=ada)
    client.force_login(ada)
    html = client.get(WIDGET, q(context="account", limit=1)).content.decode()
    assert f'data-product-id="{shop["beans"].pk}"' in html
    assert "Recommended for you" in html


def test_shared_pages_carry_placeholders_and_never_a_visitors_recommendations(
    client: Client, shop: dict[str, Product], kitchen: Category
) -> None:
    kettle = shop["kettle"]
    stored_version(similar={kettle.pk: [shop["teapot"].pk]}, trending={None: [shop["mug"].pk]})
    pages = {
        "/": ["context=home"],
        f"/p/{kettle.slug}/": [f"context=product&amp;type=similar&amp;product_id={kettle.pk}", "type=bought_together"],
        f"/c/{kitchen.slug}/": [f"context=category&amp;category={kitchen.slug}"],
        "/cart/": ["context=cart"],
    }
    for path, slots in pages.items():
        html = client.get(path).content.decode()
        assert 'hx-trigger="revealed"' in html, path
        for slot in slots:
            assert slot in html, (path, slot)
        assert "data-recommendation-id" not in html, path
    ada = make_user("ada@example.com")
    client.force_login(ada)
    assert f"{WIDGET}?context=account" in client.get(reverse("success:dashboard")).content.decode()
