"""The program's arithmetic, free of the database: points for a basket, tiers for an amount, canonical identities.

Services load rules, tiers and orders and pass them here as plain values, so the same numbers are shown on a
product page, at checkout and credited once the order is paid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

ONE = Decimal("1")
ZERO = Decimal("0")
# Mail providers that ignore dots in the local part, and their other domain names.
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


@dataclass(frozen=True)
class EarnLine:
    """A line of a basket or order: what the customer pays for it after its share of the discount."""

    product_id: int
    category_path: str
    amount: Decimal


@dataclass(frozen=True)
class Multiplier:
    """A multiplier rule as the arithmetic needs it; without product and category it applies to everything."""

    factor: Decimal
    product_id: int | None = None
    category_path: str | None = None

    def applies_to(self, line: EarnLine) -> bool:
        if self.product_id is not None:
            return line.product_id == self.product_id
        if self.category_path is not None:
            return line.category_path.startswith(self.category_path)
        return True


def line_multiplier(line: EarnLine, multipliers: Sequence[Multiplier]) -> Decimal:
    """The strongest multiplier that applies to the line: multipliers never stack; 1 when none applies."""
    factors = [multiplier.factor for multiplier in multipliers if multiplier.applies_to(line)]
    return max(factors) if factors else ONE


def paid_shares(line_totals: Sequence[Decimal], discount: Decimal) -> list[Decimal]:
    """What was paid for each line: the order's discount spread over the lines in proportion to their totals."""
    subtotal = sum(line_totals, ZERO)
    if subtotal <= 0:
        return [ZERO for _ in line_totals]
    paid = max(subtotal - discount, ZERO)
    return [total * paid / subtotal for total in line_totals]


def spend_points(
    lines: Sequence[EarnLine],
    *,
    per_unit: int,
    extra: Decimal = ZERO,
    multipliers: Sequence[Multiplier] = (),
    tier_multiplier: Decimal = ONE,
    cap: int | None = None,
) -> int:
    """Points for spending: `per_unit` per currency unit of each line (times its multiplier) and of `extra`
    (shipping or tax, when the program counts them), times the tier's multiplier, rounded down and capped."""
    weighted = sum((line.amount * line_multiplier(line, multipliers) for line in lines), ZERO) + extra
    points = int((weighted * per_unit * tier_multiplier).to_integral_value(rounding=ROUND_FLOOR))
    points = max(points, 0)
    return min(points, cap) if cap is not None else points


def capped(points: int, cap: int | None) -> int:
    return min(points, cap) if cap is not None else points


def share_kept(points: int, refunded_fraction: Decimal) -> int:
    """The points an order keeps once `refunded_fraction` (0 to 1) of what was paid has gone back."""
    fraction = min(max(refunded_fraction, ZERO), ONE)
    return int((points * (ONE - fraction)).to_integral_value(rounding=ROUND_FLOOR))


class Level(Protocol):
    @property
    def threshold(self) -> Decimal: ...


def level_for[L: Level](amount: Decimal, levels: Sequence[L]) -> L | None:
    """The highest level whose threshold `amount` reaches."""
    reached = [level for level in levels if level.threshold <= amount]
    return max(reached, key=lambda level: level.threshold) if reached else None


def level_above[L: Level](current: L | None, amount: Decimal, levels: Sequence[L]) -> L | None:
    """The next level to aim for: the lowest one above both the level held and the amount reached."""
    floor = max(current.threshold if current is not None else ZERO, amount)
    above = [level for level in levels if level.threshold > floor]
    return min(above, key=lambda level: level.threshold) if above else None


def progress_percent(amount: Decimal, start: Decimal, target: Decimal) -> int:
    """How far `amount` has come from `start` towards `target`, as a whole percentage from 0 to 100."""
    if target <= start:
        return 100
    share = (amount - start) / (target - start) * 100
    return int(min(max(share, ZERO), Decimal(100)).to_integral_value(rounding=ROUND_FLOOR))


def canonical_email(email: str) -> str:
    """One mailbox, however it is spelled: case, `+tags`, and dots where the provider ignores them."""
    local, _, domain = email.strip().lower().rpartition("@")
    if not local:
        return email.strip().lower()
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        domain = DOTLESS_DOMAINS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"


def address_key(address: Mapping[str, object]) -> str:
    """A postal address reduced to what identifies the place: street line, postal code and country."""
    parts = (address.get("line1"), address.get("postal_code"), address.get("country"))
    return "|".join(re.sub(r"[^0-9a-z]", "", str(part or "").lower()) for part in parts)
