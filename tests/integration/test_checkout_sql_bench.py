"""The checkout bench's bare SQL purchase and its report: the ceiling Patron's hot-item checkout is compared with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import RequestFactory

from patron.bench import checkout, views
from patron.catalog.models import Variant
from patron.orders.models import Order, OrderLine
from tests.concurrency import in_threads, own_database_file, race
from tests.factories import make_product


@race
@pytest.mark.django_db(transaction=True)
def test_the_bare_purchase_takes_a_unit_and_writes_the_order_and_its_line(tmp_path: Path) -> None:
    variant = make_product("Hot item", stock=1).variants.get()

    with own_database_file(tmp_path):
        sql = checkout.BareSql()
        try:
            sql.purchase(variant.pk, variant.product_id, "BARE0001")
            with pytest.raises(RuntimeError, match="out of stock"):
                sql.purchase(variant.pk, variant.product_id, "BARE0002")
        finally:
            sql.close()
        [(stock, numbers, lines)] = in_threads(
            1,
            lambda: (
                Variant.objects.get(pk=variant.pk).stock,
                list(Order.objects.values_list("number", flat=True)),
                list(OrderLine.objects.values_list("variant_id", "quantity")),
            ),
        )
        in_threads(1, checkout.remove_bench_orders)
        [left] = in_threads(1, Order.objects.count)

    assert (stock, numbers, lines) == (0, ["BARE0001"], [(variant.pk, 1)])
    assert left == 0


def test_the_report_gives_the_hot_item_share_of_the_bare_sql() -> None:
    results = checkout.Results(
        rows=[
            checkout.Row(checkout.SPREAD, 100, 0, 10.0, [10.0, 20.0, 30.0]),
            checkout.Row(checkout.HOT, 120, 1, 10.0, [12.0, 24.0]),
            checkout.Row(checkout.FLOOR, 200, 0, 10.0, [5.0, 6.0]),
            checkout.Row(checkout.BARE, 400, 0, 10.0, [1.0, 2.0]),
        ]
    )

    assert (results.ratio, results.floor_ratio) == (pytest.approx(0.3), pytest.approx(0.5))
    text = "\n".join(results.markdown())
    assert "| API checkout, one hot item | 120 | 12.0 |" in text
    assert "share of the bare SQL: 0.30 (target ≥ 0.3)" in text
    assert "behind one HTTP request of the same server reaches 0.50" in text


@pytest.mark.django_db
def test_the_bare_purchase_behind_a_request_takes_a_unit_and_writes_the_order(rf: RequestFactory) -> None:
    variant = make_product("Hot item", stock=1).variants.get()
    body = json.dumps({"variant_id": variant.pk, "product_id": variant.product_id})

    answer = views.bare_purchase(rf.post("/bench/bare-purchase/", body, content_type="application/json"))

    assert answer.status_code == 201
    order = Order.objects.get(pk=json.loads(answer.content)["order_id"])
    assert order.email == checkout.BENCH_EMAIL
    assert Variant.objects.get(pk=variant.pk).stock == 0
    with pytest.raises(RuntimeError, match="out of stock"):
        views.bare_purchase(rf.post("/bench/bare-purchase/", body, content_type="application/json"))
