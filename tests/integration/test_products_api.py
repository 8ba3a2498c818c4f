"""/api/products: search, filters and facets over HTTP, validation, staff-only writes, archive versus delete."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.tokens import issue_tokens
from patron.catalog.models import Category, Product, Variant
from patron.catalog.services import parse_filters, search_products
from patron.orders.models import Order, OrderLine, OrderStatus
from tests.factories import make_category, make_image, make_product

pytestmark = pytest.mark.django_db
URL = "/api/products/"


@pytest.fixture
def audio() -> Category:
    return make_category("Audio")


@pytest.fixture
def products(audio: Category) -> dict[str, Product]:
    return {
        "headphones": make_product(
            "Bluetooth Headphones",
            brand="Acme",
            category=audio,
            price="99.00",
            options=[{"colour": "Black"}, {"colour": "Red"}],
        ),
        "speaker": make_product("Portable Speaker", brand="Sonic", category=audio, price="59.50", stock=0),
        "hidden": make_product("Old Radio", brand="Acme", category=audio, is_active=False),
    }


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_tokens(user).access}"}


@pytest.fixture
def staff() -> dict[str, str]:
    return bearer(User.objects.create_user("staff@example.com", "a long password 1", is_staff=True))


@pytest.fixture
def shopper() -> dict[str, str]:
    return bearer(User.objects.create_user("shopper@example.com", "a long password 2"))


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def order(product: Product, variant: Variant, status: str = OrderStatus.PAID) -> OrderLine:
    placed = Order.objects.create(number=f"N{product.pk}{variant.pk}", email="a@example.com", status=status)
    return OrderLine.objects.create(
        order=placed,
        product=product,
        variant=variant,
        product_name=product.name,
        sku=variant.sku,
        unit_price=variant.price,
        quantity=2,
        line_total=variant.price * 2,
    )


# --- Reading ------------------------------------------------------------------------------------------


def test_list_with_facets(client: Client, products: dict[str, Product]) -> None:
    body = client.get(URL).json()
    assert body["total"] == 2 and body["page"] == 1 and body["num_pages"] == 1 and body["page_size"] == 24
    assert [item["name"] for item in body["items"]] == ["Portable Speaker", "Bluetooth Headphones"]
    headphones = body["items"][1]
    assert headphones["min_price"] == "99.00" and headphones["category"]["slug"] == "audio"
    assert [variant["options"] for variant in headphones["variants"]] == [{"colour": "Black"}, {"colour": "Red"}]
    assert body["facets"]["brands"] == [
        {"value": "Acme", "label": "Acme", "count": 1, "selected": False},
        {"value": "Sonic", "label": "Sonic", "count": 1, "selected": False},
    ]
    assert body["facets"]["in_stock_count"] == 1
    assert (body["facets"]["price_min"], body["facets"]["price_max"]) == ("59.50", "99.00")
    assert body["corrected_query"] is None


def test_search_filters_and_typos(client: Client, products: dict[str, Product]) -> None:
    body = client.get(URL, {"q": "blutooth"}).json()
    assert [item["name"] for item in body["items"]] == ["Bluetooth Headphones"]
    assert body["corrected_query"] == "bluetooth"
    body = client.get(f"{URL}?attr_colour=Red&attr_colour=Blue&brand=Acme&brand=Sonic").json()
    assert [item["name"] for item in body["items"]] == ["Bluetooth Headphones"]
    assert [(f["value"], f["count"], f["selected"]) for f in body["facets"]["attributes"]["colour"]] == [
        ("Black", 1, False),
        ("Blue", 0, True),
        ("Red", 1, True),
    ]
    body = client.get(URL, {"in_stock": "1", "category": "audio", "sort": "-price", "max_price": "100"}).json()
    assert [item["name"] for item in body["items"]] == ["Bluetooth Headphones"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "cheap"}, "min_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"min_price": "50", "max_price": "10"}, "min_price"),
        ({"sort": "random"}, "sort"),
        ({"page": "0"}, "page"),
        ({"page_size": "-3"}, "page_size"),
        ({"in_stock": "maybe"}, "in_stock"),
    ],
)
def test_bad_query_parameters_are_422_json(client: Client, params: dict[str, str], field: str) -> None:
    response = client.get(URL, params)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert field in error["fields"]


def test_pages_beyond_the_last_are_empty_and_page_size_is_capped(client: Client, products: dict[str, Product]) -> None:
    body = client.get(URL, {"page": "5"}).json()
    assert body["items"] == [] and body["total"] == 2 and body["page"] == 5 and body["num_pages"] == 1
    body = client.get(URL, {"page_size": "500"}).json()
    assert body["page_size"] == 100 and len(body["items"]) == 2


def test_unknown_category_is_404(client: Client) -> None:
    response = client.get(URL, {"category": "nope"})
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("page_size", ["24", "100"])
def test_list_runs_a_bounded_number_of_queries(
    client: Client, audio: Category, django_assert_max_num_queries: Any, page_size: str
) -> None:
    for number in range(110):
        product = make_product(f"Speaker {number}", brand=f"B{number % 3}", category=audio, options=[{"size": "S"}])
        if number % 4 == 0:
            make_image(product)
    with django_assert_max_num_queries(8):
        body = client.get(URL, {"q": "speaker", "page_size": page_size, "brand": ["B1", "B2"]}).json()
    assert len(body["items"]) == min(int(page_size), body["total"])
    assert body["total"] == 73


def test_one_product(client: Client, products: dict[str, Product], staff: dict[str, str]) -> None:
    headphones, hidden = products["headphones"], products["hidden"]
    body = client.get(f"{URL}{headphones.pk}").json()
    assert body["slug"] == headphones.slug and len(body["variants"]) == 2
    assert client.get(f"{URL}{hidden.pk}").status_code == 404
    assert client.get(f"{URL}{hidden.pk}", headers=staff).json()["name"] == "Old Radio"
    assert error_of(client.get(f"{URL}999999"))["code"] == "not_found"


def test_shoppers_see_only_variants_on_sale(
    client: Client, products: dict[str, Product], staff: dict[str, str], shopper: dict[str, str]
) -> None:
    headphones = products["headphones"]
    Variant.objects.filter(product=headphones, options__colour="Red").update(is_active=False)
    assert [v["options"]["colour"] for v in client.get(f"{URL}{headphones.pk}").json()["variants"]] == ["Black"]
    assert len(client.get(f"{URL}{headphones.pk}", headers=shopper).json()["variants"]) == 1
    assert len(client.get(f"{URL}{headphones.pk}", headers=staff).json()["variants"]) == 2


def test_suggestions(client: Client, products: dict[str, Product]) -> None:
    suggestions = client.get(f"{URL}suggest", {"q": "blue"}).json()
    assert {"label": "Bluetooth Headphones", "url": f"/p/{products['headphones'].slug}/", "kind": "product"} in (
        suggestions
    )
    assert {"label": "Audio", "url": "/c/audio/", "kind": "category"} in client.get(
        f"{URL}suggest", {"q": "aud"}
    ).json()
    assert client.get(f"{URL}suggest", {"q": ""}).json() == []


def test_openapi_documents_the_filters(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/products/"]["get"]
    assert "attr_<name>" in operation["description"]
    assert {"q", "category", "min_price", "max_price", "brand", "in_stock", "sort", "page", "page_size"} <= {
        parameter["name"] for parameter in operation["parameters"]
    }


# --- Writing ------------------------------------------------------------------------------------------


def new_product(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Studio Monitor",
        "brand": "Acme",
        "category": "audio",
        "description": "Flat response for mixing.",
        "attributes": {"material": "wood"},
        "variants": [
            {"sku": "MON-5", "options": {"size": "5 inch"}, "price": "149.00", "stock": 4},
            {"sku": "MON-8", "options": {"size": "8 inch"}, "price": "229.99", "compare_at_price": "249.99"},
        ],
        **overrides,
    }


def test_writes_need_a_staff_token(
    client: Client, audio: Category, products: dict[str, Product], shopper: dict[str, str]
) -> None:
    product_id = products["speaker"].pk
    anonymous = [
        client.post(URL, new_product(), content_type="application/json"),
        client.put(f"{URL}{product_id}", new_product(), content_type="application/json"),
        client.delete(f"{URL}{product_id}"),
    ]
    assert [response.status_code for response in anonymous] == [401, 401, 401]
    assert error_of(anonymous[0])["code"] == "not_authenticated"
    forbidden = [
        client.post(URL, new_product(), content_type="application/json", headers=shopper),
        client.put(f"{URL}{product_id}", new_product(), content_type="application/json", headers=shopper),
        client.delete(f"{URL}{product_id}", headers=shopper),
    ]
    assert [response.status_code for response in forbidden] == [403, 403, 403]
    assert error_of(forbidden[0])["code"] == "forbidden"
    assert Product.objects.filter(pk=product_id).exists()
    assert not Product.objects.filter(name="Studio Monitor").exists()


def test_staff_create_a_product_with_variants(client: Client, audio: Category, staff: dict[str, str]) -> None:
    response = client.post(URL, new_product(), content_type="application/json", headers=staff)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "studio-monitor"
    assert (body["min_price"], body["max_price"], body["total_stock"]) == ("149.00", "229.99", 4)
    assert [v["sku"] for v in body["variants"]] == ["MON-5", "MON-8"]
    assert body["variants"][1]["on_sale"] is True
    page = search_products(parse_filters({"q": "studio", "attr_size": "8 inch"}))
    assert [product.name for product in page.products] == ["Studio Monitor"]
    again = client.post(URL, new_product(variants=[{"price": "1.00"}]), content_type="application/json", headers=staff)
    assert again.json()["slug"] == "studio-monitor-2"


def test_a_product_without_options_gets_one_variant(client: Client, audio: Category, staff: dict[str, str]) -> None:
    payload = {"name": "Cable", "category": audio.pk, "price": "4.50", "stock": 7}
    body = client.post(URL, payload, content_type="application/json", headers=staff).json()
    assert len(body["variants"]) == 1
    assert body["variants"][0]["options"] == {} and body["variants"][0]["price"] == "4.50"
    assert body["variants"][0]["sku"] == f"P{body['id']}-1"
    assert body["total_stock"] == 7


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "nope"}, "category"),
        ({"variants": [{"sku": "X", "price": "-1.00"}]}, "variants.0.price"),
        ({"variants": [{"sku": "X", "price": "1.005"}]}, "variants.0.price"),
        ({"variants": [{"sku": "X", "price": "abc"}]}, "variants.0.price"),
        ({"variants": [{"sku": "X", "price": "1.00", "stock": -1}]}, "variants.0.stock"),
        ({"variants": []}, "__all__"),
        ({"name": ""}, "name"),
        ({"slug": "not a slug"}, "slug"),
        ({"variants": [{"sku": "A", "price": "1.00"}, {"sku": "A", "price": "1.00", "options": {"x": "y"}}]}, None),
    ],
)
def test_invalid_products_are_422(
    client: Client, audio: Category, staff: dict[str, str], overrides: dict[str, Any], field: str | None
) -> None:
    response = client.post(URL, new_product(**overrides), content_type="application/json", headers=staff)
    assert response.status_code == 422, response.content
    error = error_of(response)
    if field:
        assert field in error["fields"], error
    assert not Product.objects.filter(name="Studio Monitor").exists()


def test_duplicate_slug_or_sku_is_409(
    client: Client, audio: Category, products: dict[str, Product], staff: dict[str, str]
) -> None:
    taken_sku = products["speaker"].variants.get().sku
    for overrides in ({"slug": products["speaker"].slug}, {"variants": [{"sku": taken_sku, "price": "1.00"}]}):
        response = client.post(URL, new_product(**overrides), content_type="application/json", headers=staff)
        assert response.status_code == 409
        assert error_of(response)["code"] == "conflict"
    assert not Product.objects.filter(name="Studio Monitor").exists()


def test_staff_replace_a_product(
    client: Client, audio: Category, products: dict[str, Product], staff: dict[str, str]
) -> None:
    headphones = products["headphones"]
    black, red = headphones.variants.order_by("position")
    order(headphones, red)
    payload = new_product(
        name="Noise Cancelling Headphones",
        variants=[{"sku": black.sku, "options": {"colour": "Black"}, "price": "89.00", "stock": 1}],
    )
    response = client.put(f"{URL}{headphones.pk}", payload, content_type="application/json", headers=staff)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["slug"] == headphones.slug and body["name"] == "Noise Cancelling Headphones"
    assert body["min_price"] == "89.00" and body["total_stock"] == 1
    assert [(v["sku"], v["is_active"]) for v in body["variants"]] == [(black.sku, True), (red.sku, False)]
    assert [p.name for p in search_products(parse_filters({"q": "noise"})).products] == [body["name"]]
    assert search_products(parse_filters({"attr_colour": "Red"})).total == 0
    missing = client.put(f"{URL}999999", payload, content_type="application/json", headers=staff)
    assert missing.status_code == 404


def test_delete_removes_a_product_never_ordered(
    client: Client, products: dict[str, Product], staff: dict[str, str]
) -> None:
    speaker = products["speaker"]
    make_image(speaker)
    response = client.delete(f"{URL}{speaker.pk}", headers=staff)
    assert response.status_code == 204
    assert not Product.objects.filter(pk=speaker.pk).exists()
    assert search_products(parse_filters({"q": "portable"})).total == 0
    assert client.delete(f"{URL}{speaker.pk}", headers=staff).status_code == 404


def test_delete_archives_a_product_that_was_ordered(
    client: Client, products: dict[str, Product], staff: dict[str, str]
) -> None:
    headphones = products["headphones"]
    order(headphones, headphones.variants.first() or Variant())
    response = client.delete(f"{URL}{headphones.pk}", headers=staff)
    assert response.status_code == 200
    body = response.json()
    assert body["is_active"] is False and body["archived_at"] is not None
    headphones.refresh_from_db()
    assert headphones.is_active is False
    assert search_products(parse_filters({"q": "bluetooth"})).total == 0
    assert client.get(f"{URL}{headphones.pk}").status_code == 404
    assert Decimal(client.get(f"{URL}{headphones.pk}", headers=staff).json()["min_price"]) == Decimal("99.00")
