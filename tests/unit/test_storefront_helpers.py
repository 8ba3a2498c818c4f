"""Presentation helpers of the storefront: money, stock wording, page links, lazy images, embedded JSON."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.template import Context
from django.test import RequestFactory

from patron.storefront.templatetags.storefront import below_fold, ld_json, money, query_with, stock_text
from patron.storefront.views import _page_numbers


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(Decimal("0"), "$0.00"), (Decimal("9.5"), "$9.50"), (Decimal("1234.567"), "$1,234.57"), (None, "")],
)
def test_money(amount: Decimal | None, expected: str) -> None:
    assert money(amount) == expected


def test_money_uses_the_store_currency(settings: object) -> None:
    settings.STORE_CURRENCY = "EUR"  # type: ignore[attr-defined]
    assert money(Decimal("5")) == "€5.00"
    settings.STORE_CURRENCY = "SEK"  # type: ignore[attr-defined]
    assert money(Decimal("5")) == "SEK 5.00"


@pytest.mark.parametrize(
    ("stock", "expected"), [(0, "Out of stock"), (1, "Only 1 left"), (5, "Only 5 left"), (6, "In stock")]
)
def test_stock_text(stock: int, expected: str) -> None:
    assert stock_text(stock) == expected


@pytest.mark.parametrize(
    ("page", "num_pages", "expected"),
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (1, 10, [1, 2, None, 10]),
        (5, 10, [1, None, 4, 5, 6, None, 10]),
        (10, 10, [1, None, 9, 10]),
        (3, 10, [1, 2, 3, 4, None, 10]),
    ],
)
def test_page_numbers(page: int, num_pages: int, expected: list[int | None]) -> None:
    assert _page_numbers(page, num_pages) == expected


def test_below_fold() -> None:
    assert not below_fold(4, "")
    assert below_fold(5, "")
    assert below_fold(1, 0)
    assert not below_fold(2, 2)


def test_ld_json_escapes_markup() -> None:
    text = ld_json({"description": "</script><!-- & more", "price": Decimal("9.90")})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"description": "</script><!-- & more", "price": "9.90"}


def test_query_with_replaces_and_removes_parameters() -> None:
    request = RequestFactory().get("/c/x/?brand=A&brand=B&page=3&sort=price")
    context = Context({"request": request})
    assert query_with(context, page=4) == "?brand=A&brand=B&sort=price&page=4"
    assert query_with(context, page=None, sort=None) == "?brand=A&brand=B"
    assert query_with(Context({"request": RequestFactory().get("/c/x/?page=2")}), page=None) == "?"
