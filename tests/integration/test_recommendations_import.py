"""`patron import orders FILE`: a purchase log becomes customers, products and delivered orders, exactly once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from patron.accounts.models import Preferences, User
from patron.catalog.models import Category, Product, Variant
from patron.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from patron.recommendations import importing
from patron.recommendations.engine.data import read_purchase_log
from tests.datasets import online_retail_file
from tests.factories import make_product

pytestmark = pytest.mark.django_db

GENERIC = """user,item,timestamp,quantity,basket,name,price
ada@example.com,MUG-1,2024-03-01 10:00:00,2,A100,BLUE ENAMEL MUG,4.50
ada@example.com,TEA-9,2024-03-01 10:00:00,1,A100,Breakfast tea,3.20
ada@example.com,MUG-1,2024-03-09 16:30:00,1,A101,BLUE ENAMEL MUG,5.50
17850,MUG-1,2024-03-05 09:15:00,12,A102,BLUE ENAMEL MUG,4.00
17850,POT-3,2024-03-05 09:15:00,1,A102,Tea pot,
17850,FREE-1,2024-03-05 09:15:00,1,A102,Sample sachet,0
"""


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(path: Path) -> str:
    out = StringIO()
    call_command("import", "orders", str(path), stdout=out)
    return out.getvalue()


def counts() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Product.objects.count(),
        Variant.objects.count(),
        Order.objects.count(),
        OrderLine.objects.count(),
        OrderStatusChange.objects.count(),
    )


def test_import_creates_customers_products_and_delivered_orders(tmp_path: Path) -> None:
    output = run_import(write(tmp_path, GENERIC))

    assert "Imported 3 orders (6 lines) from 6 purchase lines" in output
    assert "2 new customers" in output and "4 new products" in output

    ada = User.objects.get(email="ada@example.com")
    placeholder = User.objects.get(email=f"customer-17850@{importing.PLACEHOLDER_DOMAIN}")
    for user in (ada, placeholder):
        assert not user.has_usable_password()
        assert not user.is_staff
        assert Preferences.objects.filter(user=user).exists()
    assert placeholder.date_joined == timezone.make_aware(datetime(2024, 3, 5, 9, 15))

    mug = Variant.objects.select_related("product__category").get(sku="MUG-1")
    assert mug.product.name == "Blue Enamel Mug", "capitals of the log are tamed"
    assert mug.price == Decimal("4.50"), "the median unit price"
    assert mug.stock == importing.IMPORTED_STOCK
    assert mug.product.category.slug == importing.CATEGORY_SLUG
    assert mug.product.is_active
    assert mug.product.created_at == timezone.make_aware(datetime(2024, 3, 1))
    assert mug.product.min_price == Decimal("4.50"), "derived catalog data is refreshed"
    assert mug.product.sales_count == 2 + 1 + 12
    assert Variant.objects.get(sku="TEA-9").product.name == "Breakfast tea"
    unpriced = Variant.objects.select_related("product").get(sku="POT-3")
    assert unpriced.price == Decimal("0.00")
    assert not unpriced.product.is_active, "never sold for nothing"
    assert not Variant.objects.get(sku="FREE-1").product.is_active

    first = Order.objects.get(number="IMP-A100")
    assert first.user == ada and first.email == "ada@example.com"
    assert first.status == OrderStatus.DELIVERED
    assert first.currency == settings.STORE_CURRENCY
    assert first.placed_at == timezone.make_aware(datetime(2024, 3, 1, 10))
    assert (first.subtotal, first.shipping, first.tax, first.total) == (
        Decimal("12.20"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("12.20"),
    )
    assert not first.stock_reserved
    lines = {line.sku: line for line in first.lines.all()}
    assert lines["MUG-1"].unit_price == Decimal("4.50")
    assert lines["MUG-1"].quantity == 2
    assert lines["MUG-1"].line_total == Decimal("9.00")
    assert lines["MUG-1"].product_name == "Blue Enamel Mug"
    history = list(first.history.all())
    assert [(h.from_status, h.to_status, h.at) for h in history] == [("", OrderStatus.DELIVERED, first.placed_at)]
    assert history[0].note == "Imported from log.csv"

    other = Order.objects.get(number="IMP-A102")
    pot_line = other.lines.get(sku="POT-3")
    assert pot_line.unit_price == Decimal("0.00"), "no price in the log: the product's (zero) price"
    assert Variant.objects.get(sku="MUG-1").stock == importing.IMPORTED_STOCK, "history takes nothing from stock"


def test_importing_the_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, GENERIC)
    run_import(path)
    before = counts()

    output = run_import(path)

    assert counts() == before
    assert "Imported 0 orders" in output
    assert "3 orders were imported before" in output


def test_a_longer_log_adds_only_its_new_orders_and_reuses_customers_and_products(tmp_path: Path) -> None:
    run_import(write(tmp_path, GENERIC))
    users, products = User.objects.count(), Product.objects.count()
    longer = GENERIC + "ada@example.com,TEA-9,2024-04-01 08:00:00,3,A200,Breakfast tea,3.20\n"

    output = run_import(write(tmp_path, longer, "longer.csv"))

    assert "Imported 1 orders (1 lines)" in output
    assert (User.objects.count(), Product.objects.count()) == (users, products)
    order = Order.objects.get(number="IMP-A200")
    assert order.user == User.objects.get(email="ada@example.com")
    assert Variant.objects.get(sku="TEA-9").product.sales_count == 1 + 3


def test_existing_customers_and_products_are_matched_by_email_and_sku(tmp_path: Path, customer: User) -> None:
    product = make_product("Enamel mug", price="7.00")
    sku = product.variants.get().sku
    log = f"user,item,timestamp,quantity\n{customer.email.upper()},{sku},2024-05-01T12:00:00,2\n"

    output = run_import(write(tmp_path, log))

    assert "0 new customers (1 existing), 0 new products (1 existing)" in output
    order = Order.objects.get()
    assert order.user == customer
    line = order.lines.get()
    assert (line.product_id, line.unit_price, line.line_total) == (product.pk, Decimal("7.00"), Decimal("14.00"))
    assert customer.has_usable_password(), "an existing account is left as it is"


def test_online_retail_lines_are_cleaned_before_import(tmp_path: Path) -> None:
    log = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,85123a,WHITE HANGING HEART T-LIGHT HOLDER,2,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850.0,United Kingdom
C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2010-12-01 09:41:00,2.55,17850.0,United Kingdom
536380,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 09:45:00,3.75,,United Kingdom
536381,22728,ALARM CLOCK BAKELIKE PINK,-3,2010-12-01 09:50:00,3.75,15311.0,United Kingdom
"""

    run_import(write(tmp_path, log))

    order = Order.objects.get()
    assert order.number == "IMP-536365"
    assert order.email == f"customer-17850@{importing.PLACEHOLDER_DOMAIN}"
    assert [(line.sku, line.quantity) for line in order.lines.order_by("pk")] == [("85123A", 6), ("85123A", 2)]
    assert Product.objects.get().name == "White Hanging Heart T-light Holder"


def test_odd_ids_get_stable_placeholders_and_short_order_numbers() -> None:
    assert importing.customer_email("Ada Lovelace") == importing.customer_email("Ada Lovelace")
    assert importing.customer_email("Ada Lovelace").endswith("@customers.invalid")
    assert importing.customer_email("ada lovelace") != importing.customer_email("Ada Lovelace")
    assert importing.customer_email("not@an@email") != "not@an@email"
    long_number = importing.order_number("order/2024/000001234567")
    assert long_number.startswith("IMP-") and len(long_number) <= 20
    assert long_number == importing.order_number("order/2024/000001234567")
    assert importing.order_number("536365") == "IMP-536365"


def test_a_bad_file_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    before = counts()

    with pytest.raises(CommandError, match="missing column"):
        run_import(write(tmp_path, "customer,product\n1,2\n"))
    with pytest.raises(CommandError, match="no such file"):
        run_import(tmp_path / "absent.csv")

    assert counts() == before
    assert not Category.objects.filter(slug=importing.CATEGORY_SLUG).exists()


def test_the_number_of_queries_does_not_grow_with_the_log(
    tmp_path: Path, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    rows = ["user,item,timestamp,quantity,basket,price"]
    for n in range(300):
        rows.append(f"c{n % 40},SKU{n % 25},2024-01-{1 + n % 28:02d} 12:00:00,1,B{n},2.00")
        rows.append(f"c{n % 40},SKU{(n * 7) % 25},2024-01-{1 + n % 28:02d} 12:00:00,2,B{n},3.00")
    path = write(tmp_path, "\n".join(rows) + "\n")

    with django_assert_max_num_queries(120):
        importing.import_orders(path)

    assert Order.objects.count() == 300
    assert OrderLine.objects.count() == 600


def test_a_slice_of_online_retail_imports_every_clean_line(tmp_path: Path) -> None:
    table = pq.read_table(online_retail_file()).slice(0, 5_000)
    path = tmp_path / "slice.parquet"
    pq.write_table(table, path)
    log = read_purchase_log(path)

    report = importing.import_orders(path)

    assert report.order_lines == len(log) == OrderLine.objects.count()
    assert report.orders == len(np.unique(log.basket_ids)) == Order.objects.filter(status="delivered").count()
    assert report.customers == len(np.unique(log.user_ids)) == User.objects.count()
    assert report.products == len(np.unique(log.item_ids)) == Product.objects.count()
    assert importing.import_orders(path).orders == 0
