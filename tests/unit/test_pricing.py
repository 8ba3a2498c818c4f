"""Pricing arithmetic that needs no database: line totals, discount amounts and their caps, rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from patron.pricing.models import DiscountCode, DiscountKind, TaxRate, normalize_code
from patron.pricing.services import QuoteLine, discount_amount, money


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.005", "0.01"), ("0.004", "0.00"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("10", "10.00")],
)
def test_money_rounds_half_up_to_cents(value: str, expected: str) -> None:
    assert money(Decimal(value)) == Decimal(expected)
    assert str(money(Decimal(value))) == expected


def test_line_total_is_price_times_quantity_in_cents() -> None:
    assert QuoteLine(variant_id=1, unit_price=Decimal("19.99"), quantity=3).line_total == Decimal("59.97")
    assert QuoteLine(variant_id=1, unit_price=Decimal("0.333"), quantity=3).line_total == Decimal("1.00")


@pytest.mark.parametrize(
    ("kind", "value", "subtotal", "expected"),
    [
        (DiscountKind.PERCENT, "10", "59.97", "6.00"),  # 5.997 rounds up
        (DiscountKind.PERCENT, "15", "33.30", "5.00"),  # 4.995 rounds half up
        (DiscountKind.PERCENT, "100", "42.10", "42.10"),
        (DiscountKind.FIXED, "5", "20.00", "5.00"),
        (DiscountKind.FIXED, "25", "20.00", "20.00"),  # capped at the subtotal
        (DiscountKind.FIXED, "5", "0.00", "0.00"),
    ],
)
def test_discount_amount(kind: str, value: str, subtotal: str, expected: str) -> None:
    code = DiscountCode(code="X", kind=kind, value=Decimal(value))
    assert discount_amount(code, Decimal(subtotal)) == Decimal(expected)


def test_codes_are_compared_in_capitals_without_spaces() -> None:
    assert normalize_code("  summer-10 ") == "SUMMER-10"
    code = DiscountCode(code="welcome", kind=DiscountKind.FIXED, value=Decimal("5"))
    code.clean()
    assert code.code == "WELCOME"


def test_tax_rate_reads_as_a_percentage() -> None:
    assert str(TaxRate(country="US", region="NY", rate=Decimal("0.08875"))) == "US-NY 8.875 %"
    assert str(TaxRate(country="GB", region="", rate=Decimal("0.20000"))) == "GB 20 %"
