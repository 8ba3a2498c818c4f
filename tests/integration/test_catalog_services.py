"""Catalog upkeep: derived fields, attribute rows, vocabulary, reindexing, sales counts, version, reads, admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from patron.accounts.models import User
from patron.catalog.models import Category, Product, ProductAttribute, SearchTerm, Variant
from patron.catalog.search import search_index
from patron.catalog.services import (
    bestsellers,
    catalog_version,
    category_ancestors,
    category_tree,
    get_category,
    get_product,
    new_arrivals,
    parse_filters,
    rebuild_search_index,
    refresh_products,
    refresh_sales_counts,
    search_products,
    suggest,
)
from patron.errors import NotFound
from patron.orders.models import Order, OrderLine, OrderStatus
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db


def found(q: str) -> list[str]:
    return [product.name for product in search_products(parse_filters({"q": q})).products]


def test_derived_fields_come_from_active_variants() -> None:
    product = make_product("Mug", price="12.00", stock=3, options=[{"size": "S"}, {"size": "L"}])
    Variant.objects.filter(product=product, options__size="L").update(price=Decimal("18.50"), stock=4)
    Variant.objects.create(
        product=product, sku="MUG-XL", options={"size": "XL"}, price="1.00", stock=9, is_active=False
    )
    refresh_products([product.pk])
    product.refresh_from_db()
    assert (product.min_price, product.max_price, product.total_stock) == (Decimal("12.00"), Decimal("18.50"), 7)
    pairs = set(ProductAttribute.objects.filter(product=product).values_list("name", "value"))
    assert pairs == {("size", "S"), ("size", "L")}


def test_attribute_rows_hold_product_attributes_and_variant_options() -> None:
    product = make_product(
        "Scarf", attributes={"Material": "wool", "care": ["hand wash", "dry"]}, options=[{"colour": "Green"}]
    )
    assert set(ProductAttribute.objects.filter(product=product).values_list("name", "value")) == {
        ("material", "wool"),
        ("care", "hand wash"),
        ("care", "dry"),
        ("colour", "Green"),
    }


def test_deactivated_products_leave_search_and_come_back() -> None:
    product = make_product("Lantern")
    Product.objects.filter(pk=product.pk).update(is_active=False)
    refresh_products([product.pk])
    assert found("lantern") == []
    assert not SearchTerm.objects.filter(term="lantern").exists()
    Product.objects.filter(pk=product.pk).update(is_active=True)
    refresh_products([product.pk])
    assert found("lantern") == ["Lantern"]


def test_refreshing_many_products_takes_a_bounded_number_of_queries(django_assert_max_num_queries: Any) -> None:
    category = make_category("Tools")
    products = [
        Product.objects.create(name=f"Hammer model {n}", slug=f"hammer-{n}", category=category) for n in range(300)
    ]
    Variant.objects.bulk_create(
        [Variant(product=p, sku=f"H-{p.pk}", options={"weight": f"{p.pk % 5} kg"}, price="9.99") for p in products]
    )
    with django_assert_max_num_queries(20):
        refresh_products(p.pk for p in products)
    assert search_products(parse_filters({"q": "hammer", "page_size": "100"})).total == 300
    assert SearchTerm.objects.get(term="hammer").frequency == 300
    assert Product.objects.filter(category=category, min_price=Decimal("9.99")).count() == 300


def test_rebuild_restores_a_lost_index_and_vocabulary() -> None:
    make_product("Bluetooth Speaker")
    make_product("Bluetooth Keyboard")
    search_index().clear()
    SearchTerm.objects.all().delete()
    assert found("bluetooth") == []
    calls: list[tuple[int, int]] = []
    rebuild_search_index(lambda done, total: calls.append((done, total)))
    assert calls == [(2, 2)]
    assert set(found("bluetooth")) == {"Bluetooth Speaker", "Bluetooth Keyboard"}
    assert SearchTerm.objects.get(term="bluetooth").frequency == 2
    assert found("keybaord") == ["Bluetooth Keyboard"]


def test_reindex_command() -> None:
    make_product("Desk Lamp")
    search_index().clear()
    call_command("reindex", verbosity=0)
    assert found("desk") == ["Desk Lamp"]


def test_every_catalog_write_bumps_the_version() -> None:
    versions = [catalog_version()]
    category = make_category("Garden")
    versions.append(catalog_version())
    product = make_product("Rake", category=category)
    versions.append(catalog_version())
    refresh_sales_counts([product.pk])
    versions.append(catalog_version())
    assert versions == sorted(set(versions)), versions


def sell(product: Product, quantity: int, status: str) -> None:
    variant = product.variants.get()
    order = Order.objects.create(number=f"S{Order.objects.count()}", email="a@example.com", status=status)
    OrderLine.objects.create(
        order=order,
        product=product,
        variant=variant,
        product_name=product.name,
        sku=variant.sku,
        unit_price=variant.price,
        quantity=quantity,
        line_total=variant.price * quantity,
    )


def test_sales_counts_come_from_paid_orders_only() -> None:
    popular, other = make_product("Kettle"), make_product("Toaster")
    sell(popular, 3, OrderStatus.PAID)
    sell(popular, 2, OrderStatus.DELIVERED)
    sell(popular, 7, OrderStatus.CANCELLED)
    sell(other, 1, OrderStatus.PENDING_PAYMENT)
    refresh_sales_counts()
    popular.refresh_from_db()
    other.refresh_from_db()
    assert (popular.sales_count, other.sales_count) == (5, 0)
    sell(other, 4, OrderStatus.SHIPPED)
    refresh_sales_counts([other.pk])
    assert [p.name for p in bestsellers(2)] == ["Kettle", "Toaster"]


def test_shelves_show_products_that_can_be_bought() -> None:
    make_product("Old", stock=2)
    make_product("Sold out", stock=0)
    make_product("Hidden", is_active=False)
    make_product("New", stock=1)
    assert [p.name for p in new_arrivals(5)] == ["New", "Old"]
    assert new_arrivals(0) == []


def test_product_and_category_reads() -> None:
    root = make_category("Home")
    kitchen = make_category("Kitchen", parent=root)
    knives = make_category("Knives", parent=kitchen)
    product = make_product("Chef Knife", category=knives)
    assert get_product(product.slug).pk == product.pk
    assert get_product(product.pk).category.name == "Knives"
    assert [c.name for c in category_ancestors(knives)] == ["Home", "Kitchen"]
    assert category_ancestors(root) == []
    assert [c.name for c in category_tree()] == ["Home", "Kitchen", "Knives"]
    assert get_category("kitchen") == kitchen
    with pytest.raises(NotFound):
        get_category("garage")
    Product.objects.filter(pk=product.pk).update(is_active=False)
    with pytest.raises(NotFound):
        get_product(product.slug)
    assert get_product(product.slug, include_inactive=True).pk == product.pk


def test_suggestions_of_each_kind() -> None:
    audio = make_category("Audio Gear")
    make_product("Audiophile Headphones", brand="Audiotech", category=audio)
    kinds = {(s.kind, s.label) for s in suggest("audio")}
    assert kinds == {
        ("category", "Audio Gear"),
        ("brand", "Audiotech"),
        ("product", "Audiophile Headphones"),
    }
    assert [s.label for s in suggest("headpohnes")] == ["Audiophile Headphones"]
    assert suggest("   ") == []


# --- Back-office ------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("boss@example.com", "a long password 3"))
    return client


def inline_management(prefix: str, total: int) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_products_saved_in_the_admin_are_searchable_with_derived_fields(admin_client: Client) -> None:
    category = make_category("Bikes")
    version = catalog_version()
    data = {
        "name": "Gravel Bike",
        "slug": "gravel-bike",
        "brand": "Rolling",
        "category": str(category.pk),
        "description": "",
        "attributes": "{}",
        "is_active": "on",
        **inline_management("variants", 2),
        **inline_management("images", 0),
        "variants-0-sku": "GB-M",
        "variants-0-options": '{"size": "M"}',
        "variants-0-price": "1200.00",
        "variants-0-stock": "2",
        "variants-0-position": "0",
        "variants-0-is_active": "on",
        "variants-1-sku": "GB-L",
        "variants-1-options": '{"size": "L"}',
        "variants-1-price": "1250.00",
        "variants-1-stock": "1",
        "variants-1-position": "1",
        "variants-1-is_active": "on",
    }
    response = admin_client.post("/admin/catalog/product/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    bike = Product.objects.get(slug="gravel-bike")
    assert (bike.min_price, bike.max_price, bike.total_stock) == (Decimal("1200.00"), Decimal("1250.00"), 3)
    assert found("gravel") == ["Gravel Bike"]
    assert catalog_version() > version
    assert "Gravel Bike" in admin_client.get("/admin/catalog/product/", {"q": "GB-L"}).content.decode()
    listing = admin_client.get("/admin/catalog/product/", {"in_stock": "no"}).content.decode()
    assert "Gravel Bike" not in listing

    response = admin_client.post(f"/admin/catalog/product/{bike.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert found("gravel") == []


def test_category_admin_lists_the_tree(admin_client: Client) -> None:
    root = make_category("Outdoor")
    make_category("Tents", parent=root)
    page = admin_client.get("/admin/catalog/category/").content.decode()
    assert page.index("Outdoor") < page.index("Tents")
    response = admin_client.post(
        "/admin/catalog/category/add/", {"name": "Stoves", "slug": "stoves", "parent": str(root.pk), "position": "0"}
    )
    assert response.status_code == 302
    assert Category.objects.get(slug="stoves").path.startswith(root.path)
    assert [c.value for c in search_products(parse_filters({"category": "outdoor"})).facets.categories] == []
