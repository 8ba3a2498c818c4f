"""`patron demo`: the generated store is complete, consistent, reproducible and safe to run twice."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from io import StringIO
from itertools import combinations, pairwise
from typing import Any, cast

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db.models import Count, Sum
from PIL import Image

from patron.accounts.models import Address, Preferences, User
from patron.catalog.models import Category, Product, ProductImage, Variant
from patron.demo import services
from patron.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from patron.recommendations.models import ItemNeighbour, NeighbourKind
from patron.recommendations.training import train

pytestmark = pytest.mark.django_db

SOLD = (OrderStatus.PAID, OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


def demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, Any]:
    products = Product.objects.order_by("pk").prefetch_related("variants")
    return {
        "products": [
            (p.name, p.slug, p.brand, p.description, p.attributes, p.category.slug, p.created_at.date())
            for p in products.select_related("category")
        ],
        "variants": [
            (v.sku, v.options, v.price, v.compare_at_price, v.stock) for p in products for v in p.variants.all()
        ],
        "orders": list(Order.objects.order_by("pk").values_list("number", "email", "status", "total")),
        "lines": list(OrderLine.objects.order_by("pk").values_list("sku", "quantity", "line_total")),
    }


def wipe_store() -> None:
    OrderStatusChange.objects.all().delete()
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    Product.objects.all().delete()
    User.objects.all().delete()


def test_builds_the_requested_catalog() -> None:
    output = demo("--products", "60", "--no-images", "--seed", "7")

    assert "Added 60 products" in output
    assert Category.objects.count() >= 20
    leaves = Category.objects.annotate(n=Count("children")).filter(n=0)
    assert 25 <= leaves.count() <= 40
    assert set(Product.objects.values_list("category__children", flat=True)) == {None}, "products sit in leaves"
    assert Product.objects.count() == 60
    assert Category.objects.filter(slug="headphones").get().path.count("/") == 2

    products = list(Product.objects.prefetch_related("variants"))
    skus = [v.sku for p in products for v in p.variants.all()]
    assert len(skus) == len(set(skus)) == Variant.objects.count()
    for product in products:
        variants = list(product.variants.all())
        assert variants, product.name
        prices = [v.price for v in variants]
        assert all(isinstance(price, Decimal) and price > 0 for price in prices)
        assert product.min_price == min(prices)
        assert product.max_price == max(prices)
        assert product.total_stock == sum(v.stock for v in variants)
        assert product.description.count(". ") >= 1
        assert product.brand
    assert Product.objects.filter(name__icontains="bluetooth").filter(name__icontains="headphones").exists()
    assert Product.objects.filter(name__icontains="waterproof").filter(name__icontains="jacket").exists()
    assert Variant.objects.filter(stock=0).exists(), "some variants are out of stock"
    assert Variant.objects.filter(options__has_key="size").exists(), "clothing comes in sizes"
    assert not ProductImage.objects.exists(), "--no-images"


def test_demo_users_can_sign_in_and_have_a_history() -> None:
    output = demo("--products", "60", "--no-images")

    for login in services.DEMO_LOGINS:
        user = User.objects.get(email=login.email)
        assert user.check_password(login.password)
        assert user.is_active
        assert login.email in output and login.password in output
    assert User.objects.get(email=services.STAFF_LOGIN.email).is_staff
    shopper = User.objects.get(email=services.SHOPPER_LOGIN.email)
    assert not shopper.is_staff
    assert shopper.addresses.filter(is_default=True).count() == 1
    assert Preferences.objects.get(user=shopper).favourite_categories.exists()
    assert User.objects.filter(is_staff=False).count() >= 5
    assert Address.objects.filter(user__email__endswith="@patron.example").count() >= 5
    assert Order.objects.filter(user__isnull=False).values("user").distinct().count() >= 3


def test_order_totals_add_up_and_history_is_consistent() -> None:
    demo("--products", "80", "--no-images", "--seed", "11")

    orders = list(Order.objects.prefetch_related("lines", "history"))
    assert len(orders) >= 12
    for order in orders:
        lines = list(order.lines.all())
        assert lines
        for line in lines:
            assert line.line_total == line.unit_price * line.quantity
        assert order.subtotal == sum(line.line_total for line in lines)
        assert order.total == order.subtotal + order.shipping + order.tax - order.discount
        assert order.total > 0
        history = list(order.history.all())
        assert history[0].to_status == OrderStatus.PENDING_PAYMENT
        assert history[-1].to_status == order.status
        assert all(a.to_status == b.from_status and a.at <= b.at for a, b in pairwise(history))
        assert order.shipping_address["line1"] and order.shipping_address["country"] == "US"
    statuses = Counter(order.status for order in orders)
    assert statuses.most_common(1)[0][0] == OrderStatus.DELIVERED

    sold = set(OrderLine.objects.filter(order__status__in=SOLD).values_list("product_id", flat=True))
    assert sold
    assert set(Product.objects.filter(sales_count__gt=0).values_list("pk", flat=True)) == sold


def test_if_empty_is_idempotent_and_still_prints_the_logins() -> None:
    demo("--products", "60", "--no-images", "--if-empty")
    counts = (Product.objects.count(), Variant.objects.count(), User.objects.count(), Order.objects.count())

    output = demo("--products", "60", "--no-images", "--if-empty")

    assert "no demo data added" in output
    assert services.SHOPPER_LOGIN.password in output and services.STAFF_LOGIN.email in output
    assert (Product.objects.count(), Variant.objects.count(), User.objects.count(), Order.objects.count()) == counts


def test_without_if_empty_a_second_run_adds_products_with_fresh_slugs_and_skus() -> None:
    demo("--products", "30", "--no-images")
    demo("--products", "30", "--no-images")

    assert Product.objects.count() == 60
    assert Product.objects.values("slug").distinct().count() == 60
    assert User.objects.filter(email=services.SHOPPER_LOGIN.email).count() == 1
    assert Category.objects.filter(slug="headphones").count() == 1


def test_the_same_seed_builds_the_same_store() -> None:
    demo("--products", "40", "--no-images", "--seed", "3")
    first = snapshot()
    wipe_store()
    demo("--products", "40", "--no-images", "--seed", "3")
    second = snapshot()
    wipe_store()
    demo("--products", "40", "--no-images", "--seed", "4")
    other = snapshot()

    assert first == second
    assert first["products"] != other["products"]


def test_pictures_are_stored_with_dimensions_and_alt_text(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    demo("--products", "4", "--seed", "5")

    pictures = list(ProductImage.objects.select_related("product"))
    assert len(pictures) == Product.objects.count() == 4
    for picture in pictures:
        assert (picture.width, picture.height) == (600, 600)
        assert picture.alt_text == picture.product.name
        name = cast(str, picture.image.name)
        assert default_storage.exists(name)
        with default_storage.open(name) as stored:
            image = Image.open(stored)
            assert image.format == "JPEG" and image.size == (600, 600)
        assert 10_000 < default_storage.size(name) < 60_000
        assert picture.renditions["source"] == name
        for width, copy in picture.renditions["files"].items():
            with default_storage.open(copy) as stored:
                assert Image.open(stored).size == (int(width), int(width))
        assert sorted(picture.renditions["files"], key=int) == ["160", "320"]
    assert Product.objects.aggregate(n=Sum("images__width"))["n"] == 4 * 600


def test_the_demo_can_start_from_a_merchants_purchase_log(tmp_path: Any) -> None:
    log = tmp_path / "history.csv"
    log.write_text(
        "user,item,timestamp,quantity,basket,name,price\n"
        "ada@example.com,TEA-1,2026-01-05T10:00:00,2,B1,Green tea,4.50\n"
        "ada@example.com,POT-1,2026-01-05T10:00:00,1,B1,Teapot,24.00\n"
        "bob@example.com,TEA-1,2026-02-01T09:00:00,1,B2,Green tea,4.50\n"
    )

    output = demo("--products", "20", "--no-images", "--orders-from", str(log))

    assert "Imported 2 orders" in output
    imported = Order.objects.filter(number__startswith="IMP-")
    assert sorted(imported.values_list("email", flat=True)) == ["ada@example.com", "bob@example.com"]
    assert "Recommendations trained" in output
    again = demo("--if-empty", "--orders-from", str(log))
    assert "0 orders" in again and imported.count() == 2


def test_the_order_history_has_products_bought_together_that_the_recommendations_learn() -> None:
    demo("--products", "400", "--no-images", "--seed", "5")

    baskets: dict[int, set[int]] = {}
    for order_id, product_id in OrderLine.objects.values_list("order_id", "product_id"):
        baskets.setdefault(order_id, set()).add(product_id)
    pairs = Counter(pair for basket in baskets.values() for pair in combinations(sorted(basket), 2))
    repeated = [pair for pair, times in pairs.items() if times >= 2]
    assert len(repeated) >= 5, pairs.most_common(5)
    category = dict(Product.objects.values_list("pk", "category_id"))
    assert sum(category[a] == category[b] for a, b in repeated) > len(repeated) / 2, "companions share a category"

    version = train()
    together = ItemNeighbour.objects.filter(model_version=version, kind=NeighbourKind.BOUGHT_TOGETHER)
    assert together.values("product_id").distinct().count() >= 5
    first, second = pairs.most_common(1)[0][0]
    assert together.filter(product_id=first, neighbour_id=second).exists()
