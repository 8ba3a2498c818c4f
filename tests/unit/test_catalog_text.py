"""Query parsing and the text helpers behind search (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.http import QueryDict

from patron.catalog.search import damerau_levenshtein, normalize, tokenize
from patron.catalog.services import ProductFilters, parse_filters
from patron.errors import ValidationFailed


def test_normalize_and_tokenize() -> None:
    assert normalize("Crème BRÛLÉE") == "creme brulee"
    assert tokenize("USB-C cable, 2m (black)!") == ["usb", "c", "cable", "2m", "black"]
    assert tokenize("snake_case") == ["snake", "case"]
    assert tokenize("  ?! ") == []


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("bluetooth", "bluetooth", 0),
        ("blutooth", "bluetooth", 1),
        ("headphnes", "headphones", 1),
        ("shrit", "shirt", 1),
        ("ca", "abc", 3),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
    ],
)
def test_damerau_levenshtein(a: str, b: str, distance: int) -> None:
    assert damerau_levenshtein(a, b) == distance
    assert damerau_levenshtein(b, a) == distance


def test_parse_filters_reads_every_parameter() -> None:
    params = QueryDict(
        "q=+red+shirt+&category=tops&min_price=10&max_price=20.5&brand=Acme&brand=Zed&brand=Acme"
        "&attr_Colour=Red&attr_colour=Blue&attr_size=M&attr_size=&in_stock=1&sort=-price&page=3&page_size=50"
    )
    assert parse_filters(params) == ProductFilters(
        q="red shirt",
        category="tops",
        min_price=Decimal("10.00"),
        max_price=Decimal("20.50"),
        brands=("Acme", "Zed"),
        attributes=(("colour", ("Red", "Blue")), ("size", ("M",))),
        in_stock=True,
        sort="-price",
        page=3,
        page_size=50,
    )


def test_parse_filters_accepts_plain_dicts_and_defaults() -> None:
    assert parse_filters({}) == ProductFilters()
    assert parse_filters({"brand": ["A", "B"], "in_stock": "0", "page_size": "1000"}) == ProductFilters(
        brands=("A", "B"), page_size=100
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "abc"}, "min_price"),
        ({"min_price": "NaN"}, "min_price"),
        ({"max_price": "-0.01"}, "max_price"),
        ({"max_price": "Infinity"}, "max_price"),
        ({"min_price": "9", "max_price": "1"}, "min_price"),
        ({"sort": "cheapest"}, "sort"),
        ({"page": "0"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "99999999999"}, "page"),
        ({"page": "²"}, "page"),
        ({"page_size": "9" * 5000}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"in_stock": "perhaps"}, "in_stock"),
    ],
)
def test_parse_filters_rejects_bad_values(params: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_filters(params)
    assert field in caught.value.fields
