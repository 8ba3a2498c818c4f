"""The merchant's back-office: only staff get in, and what they change in the catalog is live at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Product
from patron.catalog.services import ProductFilters, catalog_version, search_products
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> User:
    return make_user("staff@example.com", name="Sam Staff", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


def test_visitors_and_shoppers_are_sent_to_the_staff_login(client: Client) -> None:
    response = client.get("/admin/catalog/product/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    client.force_login(make_user("shopper@example.com"))
    response = client.get("/admin/catalog/product/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_find_products_by_sku_and_filter_by_brand_and_stock(staff_client: Client) -> None:
    audio = make_category("Audio")
    headphones = make_product("Studio Headphones", category=audio, brand="Sonora", stock=3)
    make_product("Pocket Speaker", category=audio, brand="Volta", stock=0)
    sku = headphones.variants.get().sku

    by_sku = staff_client.get("/admin/catalog/product/", {"q": sku})
    assert by_sku.status_code == 200
    assert [p.name for p in by_sku.context["cl"].result_list] == ["Studio Headphones"]

    by_brand = staff_client.get("/admin/catalog/product/", {"brand": "Volta"})
    assert [p.name for p in by_brand.context["cl"].result_list] == ["Pocket Speaker"]

    out_of_stock = staff_client.get("/admin/catalog/product/", {"in_stock": "no"})
    assert [p.name for p in out_of_stock.context["cl"].result_list] == ["Pocket Speaker"]


def test_a_product_added_with_its_variants_is_searchable_at_once(staff_client: Client) -> None:
    outdoor = make_category("Outdoor")
    version_before = catalog_version()
    form = {
        "name": "Alpine Waterproof Jacket",
        "slug": "alpine-waterproof-jacket",
        "brand": "Northwind",
        "category": outdoor.pk,
        "description": "A light shell for wet hikes.",
        "attributes": '{"material": "nylon"}',
        "is_active": "on",
        "variants-TOTAL_FORMS": "2",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-sku": "ALP-M",
        "variants-0-options": '{"size": "M"}',
        "variants-0-price": "129.00",
        "variants-0-stock": "4",
        "variants-0-position": "0",
        "variants-0-is_active": "on",
        "variants-1-sku": "ALP-L",
        "variants-1-options": '{"size": "L"}',
        "variants-1-price": "119.00",
        "variants-1-stock": "0",
        "variants-1-position": "1",
        "variants-1-is_active": "on",
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
    }
    response = staff_client.post("/admin/catalog/product/add/", form)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors

    product = Product.objects.get(slug="alpine-waterproof-jacket")
    assert product.min_price == Decimal("119.00")
    assert product.max_price == Decimal("129.00")
    assert product.total_stock == 4
    assert catalog_version() != version_before
    found = search_products(ProductFilters(q="waterproof jacket"))
    assert [p.pk for p in found.products] == [product.pk]
    sizes = {value.value: value.count for value in found.facets.attributes["size"]}
    assert sizes == {"M": 1, "L": 1}


def test_staff_search_customers_by_email(staff_client: Client) -> None:
    make_user("grace@example.com", name="Grace Hopper")
    make_user("alan@example.com", name="Alan Turing")
    response = staff_client.get("/admin/accounts/user/", {"q": "grace"})
    assert response.status_code == 200
    assert [u.email for u in response.context["cl"].result_list] == ["grace@example.com"]
