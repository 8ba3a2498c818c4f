"""Rewards: redeeming one debits the ledger and issues a single-use code for the customer through the core
discount service, in one transaction; each kind of code works at checkout; early access and the free shipping perk.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from patron.loyalty import services
from patron.loyalty.models import EntryKind, LoyaltyPoints, PointsEntry, Reward
from patron.orders.models import OrderStatus
from patron.pricing.models import DiscountCode, DiscountKind, DiscountRedemption, ShippingMethod
from patron.pricing.services import QuoteLine, quote
from tests.integration import test_loyalty_earning as shared
from tests.integration.test_loyalty_earning import balance, kinds, make_tier
from tests.order_factories import make_order

pytestmark = pytest.mark.django_db
clock, kitchen, lamp, mug = shared.clock, shared.kitchen, shared.lamp, shared.mug  # fixtures


def make_reward(name: str = "$5 off", cost: int = 500, **fields: Any) -> Reward:
    fields.setdefault("kind", DiscountKind.FIXED)
    if fields["kind"] in (DiscountKind.FIXED, DiscountKind.PERCENT):
        fields.setdefault("value", Decimal(5))
    return Reward.objects.create(name=name, points_cost=cost, **fields)


@pytest.fixture
def rich(customer: User, staff: User, clock: datetime) -> User:
    """A customer with 1,000 available points."""
    services.adjust_points(customer.pk, 1000, reason="Opening balance", actor=staff, now=clock)
    return customer


@pytest.fixture(autouse=True)
def standard_shipping() -> ShippingMethod:
    ShippingMethod.objects.all().delete()
    return ShippingMethod.objects.create(code="standard", name="Standard", price=Decimal("4.99"))


def test_redeeming_debits_the_ledger_and_issues_a_single_use_code_for_the_customer(rich: User, clock: datetime) -> None:
    reward = make_reward(min_order=Decimal(30), valid_days=14)
    redemption = services.redeem_reward(rich, reward.pk, clock)

    code = redemption.code
    assert code.code.startswith("REWARD-")
    assert (code.kind, code.value, code.min_subtotal, code.user, code.max_uses) == (
        DiscountKind.FIXED,
        Decimal("5.00"),
        Decimal("30.00"),
        rich,
        1,
    )
    assert code.ends_at is not None and code.starts_at is not None
    assert code.ends_at - code.starts_at == timedelta(days=14)
    assert redemption.balance == 500
    assert balance(rich) == (500, 0)
    entry = PointsEntry.objects.get(user=rich, kind=EntryKind.REDEEMED)
    assert (entry.points, entry.reward, entry.discount_code) == (-500, reward, code)
    assert services.reward_codes(rich, clock) == [code]


def test_without_enough_points_nothing_is_debited_or_issued(customer: User, staff: User, clock: datetime) -> None:
    services.adjust_points(customer.pk, 499, reason="Almost", actor=staff, now=clock)
    reward = make_reward()

    with pytest.raises(Conflict, match="needs 500 points; you have 499") as refusal:
        services.redeem_reward(customer, reward.pk, clock)

    assert refusal.value.status == 409
    assert balance(customer) == (499, 0)
    assert not DiscountCode.objects.exists()


def test_a_code_that_cannot_be_issued_leaves_the_points_untouched(
    rich: User, clock: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(**_: Any) -> DiscountCode:
        raise Conflict("Could not find a free discount code; try again.")

    monkeypatch.setattr(services, "issue_discount_code", fail)
    with pytest.raises(Conflict):
        services.redeem_reward(rich, make_reward().pk, clock)

    assert balance(rich) == (1000, 0)
    assert kinds(rich) == [(EntryKind.ADJUSTED, 1000, 0)]


def test_refusals(rich: User, clock: datetime) -> None:
    inactive = make_reward(is_active=False)
    with pytest.raises(NotFound):
        services.redeem_reward(rich, inactive.pk, clock)
    with pytest.raises(NotFound):
        services.redeem_reward(rich, 2**62, clock)
    with pytest.raises(NotAuthenticated):
        services.redeem_reward(None, make_reward().pk, clock)
    shared.program(is_active=False)
    with pytest.raises(Conflict, match="paused"):
        services.redeem_reward(rich, make_reward().pk, clock)


def _lines(*items: tuple[Variant, int]) -> list[QuoteLine]:
    return [
        QuoteLine(variant_id=variant.pk, unit_price=variant.price, quantity=quantity, product_id=variant.product_id)
        for variant, quantity in items
    ]


def test_each_kind_of_reward_code_works_at_checkout(rich: User, mug: Variant, lamp: Variant, clock: datetime) -> None:
    percent = services.redeem_reward(rich, make_reward("10% off", 100, kind=DiscountKind.PERCENT, value=10).pk)
    fixed = services.redeem_reward(rich, make_reward("$5 off", 100).pk)
    shipping = services.redeem_reward(rich, make_reward("Free shipping", 100, kind=DiscountKind.FREE_SHIPPING).pk)
    free_mug = services.redeem_reward(
        rich, make_reward("A free mug", 100, kind=DiscountKind.FREE_PRODUCT, product=mug.product).pk
    )
    basket = _lines((mug, 2), (lamp, 1))  # 80.00

    def totals(code: str) -> tuple[Decimal, Decimal]:
        priced = quote(basket, discount_code=code, user=rich, email=rich.email)
        return priced.discount, priced.shipping

    assert totals(percent.code.code) == (Decimal("8.00"), Decimal("4.99"))
    assert totals(fixed.code.code) == (Decimal("5.00"), Decimal("4.99"))
    assert totals(shipping.code.code) == (Decimal("0.00"), Decimal("0.00"))
    assert totals(free_mug.code.code) == (Decimal("20.00"), Decimal("4.99"))
    with pytest.raises(ValidationFailed, match="add it to your cart"):
        quote(_lines((lamp, 1)), discount_code=free_mug.code.code, user=rich, email=rich.email)
    # Codes belong to the customer who redeemed them.
    with pytest.raises(ValidationFailed, match="belongs to a customer account"):
        quote(basket, discount_code=fixed.code.code, user=make_user("bob@example.com"), email="bob@example.com")


def test_used_and_expired_codes_leave_the_customers_list(rich: User, mug: Variant, clock: datetime) -> None:
    used = services.redeem_reward(rich, make_reward("Used", 100).pk, clock).code
    expired = services.redeem_reward(rich, make_reward("Short", 100, valid_days=1).pk, clock).code
    kept = services.redeem_reward(rich, make_reward("Kept", 100).pk, clock).code
    order = make_order([(mug, 2)], user=rich)
    DiscountRedemption.objects.create(code=used, order=order, user=rich, email=rich.email, amount=Decimal(5))

    later = timezone.now() + timedelta(days=2)  # codes run from the moment they are issued
    assert services.reward_codes(rich, later) == [kept]
    # A cancelled order gives its code back.
    order.status = OrderStatus.CANCELLED
    order.save(update_fields=["status"])
    assert set(services.reward_codes(rich, later)) == {used, kept}
    assert expired not in services.reward_codes(rich, later)


def test_early_access_rewards_open_first_to_tiers_with_the_perk(rich: User, clock: datetime) -> None:
    make_tier("Bronze", 0)
    gold = make_tier("Gold", 5000, early_access=True)
    reward = make_reward(early_access_until=clock + timedelta(days=7))
    services.refresh_tier(rich.pk, clock)

    [option] = services.reward_options(rich, clock)
    assert not option.can_redeem and "Early access" in option.reason
    with pytest.raises(Conflict, match="Early access"):
        services.redeem_reward(rich, reward.pk, clock)

    LoyaltyPoints.objects.filter(user=rich).update(tier=gold)
    assert services.redeem_reward(rich, reward.pk, clock).balance == 500
    LoyaltyPoints.objects.filter(user=rich).update(tier=None)
    assert services.redeem_reward(rich, reward.pk, clock + timedelta(days=7)).balance == 0


def test_reward_options_say_what_is_missing(customer: User, staff: User, clock: datetime) -> None:
    services.adjust_points(customer.pk, 300, reason="Welcome", actor=staff, now=clock)
    make_reward("Cheap", 200)
    make_reward("Dear", 500)

    options = {option.reward.name: option for option in services.reward_options(customer, clock)}
    assert options["Cheap"].can_redeem
    assert (options["Dear"].can_redeem, options["Dear"].reason) == (False, "200 more points needed.")
    assert all(not option.can_redeem for option in services.reward_options(None, clock))


def test_the_free_shipping_perk_issues_one_code_at_a_time(customer: User, clock: datetime) -> None:
    make_tier("Bronze", 0)
    with pytest.raises(Conflict, match="perk of higher tiers"):
        services.free_shipping_perk_code(customer, clock)

    gold = make_tier("Gold", 1, free_shipping=True)
    services.account_for(customer)
    LoyaltyPoints.objects.filter(user=customer).update(tier=gold)
    first = services.free_shipping_perk_code(customer, clock)
    again = services.free_shipping_perk_code(customer, clock)

    assert first == again
    assert (first.kind, first.user, first.max_uses) == (DiscountKind.FREE_SHIPPING, customer, 1)
    assert balance(customer) == (0, 0)  # a perk, not a purchase with points
