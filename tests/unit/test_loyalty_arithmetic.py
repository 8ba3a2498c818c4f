"""The loyalty arithmetic: points for a basket, multipliers, refunds, tiers, and what the referral guards compare."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from patron.loyalty.earning import (
    EarnLine,
    Multiplier,
    address_key,
    canonical_email,
    level_above,
    level_for,
    line_multiplier,
    paid_shares,
    progress_percent,
    share_kept,
    spend_points,
)

MUG = EarnLine(product_id=1, category_path="000001/000002/", amount=Decimal("19.99"))
LAMP = EarnLine(product_id=2, category_path="000003/", amount=Decimal("40.00"))


def test_one_point_per_unit_rounds_down() -> None:
    assert spend_points([MUG], per_unit=1) == 19
    assert spend_points([MUG, LAMP], per_unit=1) == 59
    assert spend_points([MUG], per_unit=10) == 199


def test_shipping_and_tax_count_only_when_passed_as_extra() -> None:
    assert spend_points([LAMP], per_unit=1, extra=Decimal("4.99")) == 44


def test_tier_multiplier_and_cap() -> None:
    assert spend_points([LAMP], per_unit=1, tier_multiplier=Decimal("1.25")) == 50
    assert spend_points([LAMP], per_unit=1, tier_multiplier=Decimal("1.25"), cap=30) == 30


def test_product_and_category_multipliers_apply_to_their_lines_only() -> None:
    double_mugs = Multiplier(factor=Decimal(2), product_id=1)
    triple_kitchen = Multiplier(factor=Decimal(3), category_path="000001/")
    assert line_multiplier(MUG, [double_mugs]) == 2
    assert line_multiplier(LAMP, [double_mugs]) == 1
    # A category's multiplier covers its subcategories (the mug sits in 000001/000002/).
    assert line_multiplier(MUG, [triple_kitchen]) == 3
    assert spend_points([MUG, LAMP], per_unit=1, multipliers=[double_mugs]) == 79  # 39.98 + 40


def test_multipliers_do_not_stack_the_strongest_wins() -> None:
    campaign = Multiplier(factor=Decimal("1.5"))
    double_mugs = Multiplier(factor=Decimal(2), product_id=1)
    assert line_multiplier(MUG, [campaign, double_mugs]) == 2
    assert line_multiplier(LAMP, [campaign, double_mugs]) == Decimal("1.5")


def test_a_multiplier_below_one_applies_when_it_is_the_only_one() -> None:
    half_on_sale = Multiplier(factor=Decimal("0.5"), product_id=2)
    assert spend_points([LAMP], per_unit=1, multipliers=[half_on_sale]) == 20


def test_the_discount_is_spread_over_the_lines() -> None:
    assert paid_shares([Decimal(30), Decimal(10)], Decimal(8)) == [Decimal(24), Decimal(8)]
    assert paid_shares([Decimal(30)], Decimal(50)) == [Decimal(0)]
    assert paid_shares([], Decimal(0)) == []


@pytest.mark.parametrize(
    ("points", "fraction", "kept"),
    [(100, Decimal(0), 100), (100, Decimal("0.25"), 75), (99, Decimal("0.5"), 49), (100, Decimal(1), 0)],
)
def test_share_kept_after_a_refund(points: int, fraction: Decimal, kept: int) -> None:
    assert share_kept(points, fraction) == kept


@dataclass(frozen=True)
class Level:
    name: str
    threshold: Decimal


BRONZE, SILVER, GOLD = Level("Bronze", Decimal(0)), Level("Silver", Decimal(500)), Level("Gold", Decimal(2000))
LEVELS = [GOLD, BRONZE, SILVER]


def test_level_reached_and_next_one() -> None:
    assert level_for(Decimal(0), LEVELS) == BRONZE
    assert level_for(Decimal(499), LEVELS) == BRONZE
    assert level_for(Decimal(500), LEVELS) == SILVER
    assert level_for(Decimal(5000), LEVELS) == GOLD
    assert level_for(Decimal(10), [SILVER]) is None
    assert level_above(BRONZE, Decimal(120), LEVELS) == SILVER
    assert level_above(GOLD, Decimal(120), LEVELS) is None
    # A tier kept for its period stays the floor even when the points of the period have fallen below it.
    assert level_above(SILVER, Decimal(120), LEVELS) == GOLD


def test_progress_percent() -> None:
    assert progress_percent(Decimal(250), Decimal(0), Decimal(500)) == 50
    assert progress_percent(Decimal(1250), Decimal(500), Decimal(2000)) == 50
    assert progress_percent(Decimal(100), Decimal(500), Decimal(2000)) == 0
    assert progress_percent(Decimal(3000), Decimal(500), Decimal(2000)) == 100


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("Ada@Example.com", "ada@example.com"),
        ("ada+shop@example.com", "ada@example.com"),
        ("a.d.a+1@googlemail.com", "ada@gmail.com"),
        ("a.da@example.com", "a.da@example.com"),
    ],
)
def test_canonical_email(email: str, canonical: str) -> None:
    assert canonical_email(email) == canonical


def test_address_key_ignores_case_spaces_and_punctuation() -> None:
    one = {"line1": "1 Harbour Street", "postal_code": "N1 1AA", "country": "GB", "city": "London"}
    same = {"line1": "1, harbour street.", "postal_code": "n11aa", "country": "gb", "city": "LONDON"}
    other = {"line1": "2 Harbour Street", "postal_code": "N1 1AA", "country": "GB"}
    assert address_key(one) == address_key(same)
    assert address_key(one) != address_key(other)
