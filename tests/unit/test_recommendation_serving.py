"""Serving rules without a database: parsing a request, fusing ranked lists, and the merchant's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from patron.errors import ValidationFailed
from patron.recommendations.services import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Card,
    Context,
    Kind,
    Rules,
    fuse,
    parse_query,
    select,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def card(
    product_id: int, *, path: str = "000001/", available: bool = True, on_sale: bool = False, age_days: int = 365
) -> Card:
    return Card(
        id=product_id,
        name=f"Product {product_id}",
        slug=f"product-{product_id}",
        url=f"/p/product-{product_id}/",
        brand="",
        category_path=path,
        price=Decimal("10.00"),
        compare_at=Decimal("12.00") if on_sale else None,
        is_range=False,
        image_url="",
        image_srcset="",
        image_width=None,
        image_height=None,
        created_at=NOW - timedelta(days=age_days),
        on_sale=on_sale,
        active=True,
        available=available,
    )


def ids(items: list) -> list[int]:
    return [item.card.id for item in items]


def ranked(*product_ids: int) -> list[tuple[int, float]]:
    return fuse([(list(product_ids), 1.0)])


# --- Parsing ------------------------------------------------------------------------------------------------------


def test_each_context_has_a_default_type_and_limit() -> None:
    assert parse_query("home").kind is Kind.FOR_YOU
    assert parse_query("account").kind is Kind.FOR_YOU
    assert parse_query("cart").kind is Kind.BOUGHT_TOGETHER
    assert parse_query("product", product_id="7").kind is Kind.SIMILAR
    assert parse_query("category", category="kitchen").kind is Kind.TRENDING
    query = parse_query("product", kind="bought_together", product_id=7, limit="3")
    assert (query.context, query.kind, query.product_id, query.limit) == (Context.PRODUCT, Kind.BOUGHT_TOGETHER, 7, 3)
    assert query.slot == "product_bought_together"
    assert parse_query("home").limit == DEFAULT_LIMIT


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"context": "checkout"}, "context"),
        ({"context": ""}, "context"),
        ({"context": "product"}, "product_id"),
        ({"context": "product", "product_id": "abc"}, "product_id"),
        ({"context": "product", "product_id": "0"}, "product_id"),
        ({"context": "product", "product_id": str(2**63)}, "product_id"),
        ({"context": "category"}, "category"),
        ({"context": "home", "limit": "0"}, "limit"),
        ({"context": "home", "limit": str(MAX_LIMIT + 1)}, "limit"),
        ({"context": "home", "limit": "ten"}, "limit"),
        ({"context": "home", "kind": "similar"}, "type"),
        ({"context": "cart", "kind": "nonsense"}, "type"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, str], field: str) -> None:
    context = params.pop("context")
    with pytest.raises(ValidationFailed) as raised:
        parse_query(context, **params)
    assert field in raised.value.fields


def test_a_product_id_outside_the_product_context_is_ignored() -> None:
    assert parse_query("home", product_id=5).product_id is None


# --- Fusing -------------------------------------------------------------------------------------------------------


def test_fusion_rewards_agreement_between_lists_and_respects_weights() -> None:
    fused = fuse([([1, 2, 3], 1.0), ([3, 4], 1.0)])
    assert [product_id for product_id, _ in fused][:1] == [3]
    heavy = fuse([([1, 2], 1.0), ([5, 6], 3.0)])
    assert [product_id for product_id, _ in heavy][:2] == [5, 6]
    assert fuse([([1, 2, 3, 4], 1.0)], limit=2) == fuse([([1, 2], 1.0)])


# --- Rules --------------------------------------------------------------------------------------------------------


def test_only_available_products_and_never_excluded_ones() -> None:
    products = {1: card(1), 2: card(2, available=False), 3: card(3), 4: card(4)}
    chosen = select(ranked(1, 2, 3, 4, 5), products, Rules(), exclude={3}, limit=10, now=NOW)
    # 2 is out of stock or inactive, 3 is in the cart (or the page's product), 5 no longer exists.
    assert ids(chosen) == [1, 4]


def test_just_bought_items_are_left_out_unless_repeatable() -> None:
    products = {1: card(1), 2: card(2, path="000001/000007/"), 3: card(3), 4: card(4)}
    plain = select(ranked(1, 2, 3, 4), products, Rules(), just_bought={1, 2, 3}, limit=10, now=NOW)
    assert ids(plain) == [4]
    rules = Rules(repeatable_products=frozenset({1}), repeatable_categories=("000001/000007/",))
    repeatable = select(ranked(1, 2, 3, 4), products, rules, just_bought={1, 2, 3}, limit=10, now=NOW)
    assert ids(repeatable) == [1, 2, 4]


def test_excluded_products_and_categories_with_their_subcategories() -> None:
    products = {1: card(1), 2: card(2, path="000002/000009/"), 3: card(3, path="000002/"), 4: card(4, path="000003/")}
    rules = Rules(excluded_products=frozenset({1}), excluded_categories=("000002/",))
    assert ids(select(ranked(1, 2, 3, 4), products, rules, limit=10, now=NOW)) == [4]


def test_new_arrivals_and_sale_items_are_boosted_by_their_weight() -> None:
    products = {1: card(1), 2: card(2), 3: card(3, age_days=3), 4: card(4, on_sale=True)}
    order = ranked(1, 2, 3, 4)
    assert ids(select(order, products, Rules(), limit=10, now=NOW)) == [1, 2, 3, 4]
    new = Rules(new_arrival_days=7, new_arrival_boost=1.0)
    assert ids(select(order, products, new, limit=10, now=NOW)) == [3, 1, 2, 4]
    old_enough = Rules(new_arrival_days=2, new_arrival_boost=1.0)
    assert ids(select(order, products, old_enough, limit=10, now=NOW)) == [1, 2, 3, 4]
    sale = Rules(on_sale_boost=1.0)
    assert ids(select(order, products, sale, limit=10, now=NOW)) == [4, 1, 2, 3]


def test_a_candidate_is_shown_once_and_the_limit_holds() -> None:
    products = {n: card(n) for n in range(1, 6)}
    doubled = [(1, 0.9), (2, 0.8), (1, 0.7), (3, 0.6)]
    assert ids(select(doubled, products, Rules(), limit=10, now=NOW)) == [1, 2, 3]
    assert ids(select(ranked(1, 2, 3, 4, 5), products, Rules(), limit=2, now=NOW)) == [1, 2]
