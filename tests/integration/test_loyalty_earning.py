"""Earning rules, each switched on by the merchant: spending (with multipliers, tier, caps and dates), sign-up,
first order, product review, birthday; and the helpers the other loyalty test modules share.

Services take `now`, so every test runs on its own clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from patron import events
from patron.accounts.models import Preferences, User
from patron.accounts.testing import make_user
from patron.catalog.models import Category, Variant
from patron.loyalty import services
from patron.loyalty.models import EarningRule, EntryKind, LoyaltyPoints, LoyaltyProgram, PointsEntry, RuleKind, Tier
from patron.orders import services as orders
from patron.orders.models import Order
from patron.payments.providers import CardInput
from patron.payments.services import start_payment
from tests.factories import make_category, make_product
from tests.order_factories import GOOD_CARD, make_order

pytestmark = pytest.mark.django_db

OTHER_CARD = CardInput(number="5555 5555 5555 4444", exp_month=10, exp_year=2099, cvc="321")


# --- Helpers shared by the loyalty test modules ------------------------------------------------------------


def make_rule(kind: str, points: int = 0, **fields: Any) -> EarningRule:
    return EarningRule.objects.create(name=f"{kind} rule", kind=kind, points=points, **fields)


def make_tier(name: str, threshold: int | str, multiplier: str = "1.00", **perks: bool) -> Tier:
    return Tier.objects.create(name=name, threshold=Decimal(threshold), earn_multiplier=Decimal(multiplier), **perks)


def program(**settings: Any) -> LoyaltyProgram:
    current = services.get_program()
    for name, value in settings.items():
        setattr(current, name, value)
    current.save()
    return current


def pay(order: Order, card: CardInput = GOOD_CARD) -> Order:
    """Pay with the test provider and mark the order paid, as the payment's subscriber does."""
    payment = start_payment(order, card=card, idempotency_key=f"pay-{order.number}")
    orders.mark_paid(order.pk, payment.pk)
    order.refresh_from_db()
    return order


def buy(
    user: User,
    *lines: tuple[Variant, int],
    now: datetime,
    shipping: str = "5.00",
    card: CardInput = GOOD_CARD,
    address: dict[str, str] | None = None,
) -> Order:
    """A paid order of the customer's whose points were credited at `now` (as OrderPaid's subscriber does)."""
    order = make_order(list(lines), user=user, shipping=shipping, placed_at=now)
    if address is not None:
        Order.objects.filter(pk=order.pk).update(shipping_address=address)
        order.refresh_from_db()
    pay(order, card)
    services.award_order_points(order.pk, now)
    return order


def balance(user: User) -> tuple[int, int]:
    """The customer's (available, pending) points, having checked that they agree with the ledger."""
    check = services.check_balance(user.pk)
    assert check.agrees, check
    return check.points, check.pending


def kinds(user: User) -> list[tuple[str, int, int]]:
    """The customer's ledger, oldest first, as (kind, points, pending)."""
    return list(PointsEntry.objects.filter(user=user).order_by("pk").values_list("kind", "points", "pending"))


@pytest.fixture
def clock() -> datetime:
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def kitchen() -> Category:
    return make_category("Kitchen")


@pytest.fixture
def mug(kitchen: Category) -> Variant:
    return make_product(
        "Stoneware mug", category=make_category("Mugs", parent=kitchen), price="20.00", stock=50
    ).variants.get()


@pytest.fixture
def lamp() -> Variant:
    return make_product("Desk lamp", category=make_category("Lighting"), price="40.00", stock=50).variants.get()


# --- Spending -----------------------------------------------------------------------------------------------


def test_points_per_unit_spent_exclude_shipping_and_tax_and_wait_as_pending(
    customer: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = buy(customer, (mug, 2), now=clock, shipping="5.00")

    assert balance(customer) == (0, 40)
    entry = PointsEntry.objects.get(user=customer)
    assert (entry.kind, entry.order, entry.description) == (EntryKind.EARNED, order, f"Order {order.number}")
    assert entry.available_at == clock + timedelta(days=services.get_program().undelivered_release_days)


def test_shipping_and_tax_earn_when_the_program_says_so(customer: User, mug: Variant, clock: datetime) -> None:
    program(earn_on_shipping=True, earn_on_tax=True)
    make_rule(RuleKind.SPEND, 2)
    order = make_order([(mug, 1)], user=customer, shipping="5.00")
    Order.objects.filter(pk=order.pk).update(tax=Decimal("2.50"), total=Decimal("27.50"))
    pay(order)
    services.award_order_points(order.pk, clock)

    assert balance(customer) == (0, 55)  # (20 + 5 + 2.50) * 2


def test_a_discount_earns_nothing(customer: User, mug: Variant, lamp: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = make_order([(mug, 1), (lamp, 1)], user=customer, shipping="0")
    Order.objects.filter(pk=order.pk).update(discount=Decimal("15.00"), total=Decimal("45.00"))
    pay(order)
    services.award_order_points(order.pk, clock)

    assert balance(customer) == (0, 45)


def test_rules_off_or_outside_their_dates_earn_nothing(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1, is_active=False)
    make_rule(RuleKind.SPEND, 5, starts_at=clock + timedelta(days=1))
    make_rule(RuleKind.SPEND, 7, ends_at=clock)
    buy(customer, (mug, 1), now=clock)

    assert not PointsEntry.objects.exists()


def test_a_cap_limits_one_order_and_a_limit_the_number_of_awards(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1, max_points_per_award=30, max_awards_per_customer=2)
    for _ in range(3):
        buy(customer, (mug, 2), now=clock)

    assert balance(customer) == (0, 60)


def test_the_program_switched_off_and_guests_earn_nothing(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    guest_order = pay(make_order([(mug, 1)], email="guest@example.com"))
    assert services.award_order_points(guest_order.pk, clock) == []
    program(is_active=False)
    buy(customer, (mug, 1), now=clock)

    assert not PointsEntry.objects.exists()


def test_an_order_earns_once_however_often_its_event_arrives(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = buy(customer, (mug, 1), now=clock)
    assert services.award_order_points(order.pk, clock) == []

    assert balance(customer) == (0, 20)


def test_unpaid_orders_earn_nothing(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = make_order([(mug, 1)], user=customer)

    assert services.award_order_points(order.pk, clock) == []


# --- Multipliers --------------------------------------------------------------------------------------------


def test_product_and_category_multipliers(
    customer: User, mug: Variant, lamp: Variant, kitchen: Category, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    make_rule(RuleKind.MULTIPLIER, multiplier=Decimal(3), category=kitchen)  # the mug's parent category
    make_rule(RuleKind.MULTIPLIER, multiplier=Decimal(2), product=lamp.product)
    buy(customer, (mug, 1), (lamp, 1), now=clock)

    assert balance(customer) == (0, 140)  # 20 * 3 + 40 * 2


def test_a_campaign_multiplies_within_its_dates_only(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    make_rule(RuleKind.MULTIPLIER, multiplier=Decimal(2), starts_at=clock, ends_at=clock + timedelta(days=2))
    buy(customer, (mug, 1), now=clock + timedelta(days=1))
    buy(customer, (mug, 1), now=clock + timedelta(days=3))

    assert [pending for _, _, pending in kinds(customer)] == [40, 20]


def test_the_tier_multiplies_points_for_spending(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    gold = make_tier("Gold", 0, "1.50")
    services.refresh_tier(customer.pk, clock)
    assert LoyaltyPoints.objects.get(user=customer).tier == gold
    buy(customer, (mug, 1), now=clock)

    assert balance(customer) == (0, 30)


# --- Bonuses ------------------------------------------------------------------------------------------------


def test_sign_up_bonus_is_available_at_once_and_given_once(customer: User, clock: datetime) -> None:
    make_rule(RuleKind.SIGNUP, 100)
    services.welcome_customer(customer.pk, now=clock)
    services.welcome_customer(customer.pk, now=clock)

    assert balance(customer) == (100, 0)
    assert kinds(customer) == [(EntryKind.EARNED, 100, 0)]


def test_registering_publishes_the_event_that_gives_the_bonus(
    immediate_tasks: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    make_rule(RuleKind.SIGNUP, 100)
    with django_capture_on_commit_callbacks(execute=True):
        ada = make_user("ada@example.com")

    assert balance(ada) == (100, 0)


def test_first_order_bonus_on_the_first_paid_order_only(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.FIRST_ORDER, 50)
    first = buy(customer, (mug, 1), now=clock)
    buy(customer, (mug, 1), now=clock)

    entry = PointsEntry.objects.get(user=customer)
    assert (entry.order, entry.pending) == (first, 50)


def test_an_earlier_cancelled_order_does_not_spend_the_first_order_bonus(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.FIRST_ORDER, 50)
    orders.cancel_order(make_order([(mug, 1)], user=customer), actor=staff)
    buy(customer, (mug, 1), now=clock)

    assert balance(customer) == (0, 50)


def test_review_points_once_per_product_and_customer(
    customer: User, mug: Variant, lamp: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.REVIEW, 25)
    services.award_review_points(customer.pk, mug.product_id, clock)
    services.award_review_points(customer.pk, mug.product_id, clock)  # a second review of the same product
    services.award_review_points(customer.pk, lamp.product_id, clock)

    assert balance(customer) == (50, 0)


def test_review_points_respect_the_rule_limit(customer: User, mug: Variant, lamp: Variant, clock: datetime) -> None:
    make_rule(RuleKind.REVIEW, 25, max_awards_per_customer=1)
    services.award_review_points(customer.pk, mug.product_id, clock)
    services.award_review_points(customer.pk, lamp.product_id, clock)

    assert balance(customer) == (25, 0)


def test_an_approved_review_event_awards_its_points(
    customer: User, mug: Variant, immediate_tasks: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    make_rule(RuleKind.REVIEW, 25)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish(events.ReviewApproved(review_id=7, user_id=customer.pk, product_id=mug.product_id))
        events.publish(events.ReviewApproved(review_id=7, user_id=customer.pk, product_id=mug.product_id))

    assert balance(customer) == (25, 0)
    assert PointsEntry.objects.get(user=customer).description == "Review of Stoneware mug"


def _born(user: User, birthday: date) -> None:
    Preferences.objects.filter(user=user).update(birthday=birthday)


def test_birthday_points_on_the_day_once_a_year(customer: User) -> None:
    make_rule(RuleKind.BIRTHDAY, 100)
    other = make_user("bob@example.com")
    _born(customer, date(1990, 6, 15))
    _born(other, date(1991, 6, 16))
    day = datetime(2027, 6, 15, 9, 0, tzinfo=UTC)

    assert services.award_birthday_points(day - timedelta(days=1)) == 0
    assert services.award_birthday_points(day) == 1
    assert services.award_birthday_points(day + timedelta(hours=3)) == 0
    assert services.award_birthday_points(day.replace(year=2028)) == 1
    assert balance(customer) == (200, 0)
    assert not LoyaltyPoints.objects.filter(user=other, points__gt=0).exists()


def test_a_leap_day_birthday_is_celebrated_on_28_february_in_other_years(customer: User) -> None:
    make_rule(RuleKind.BIRTHDAY, 100)
    _born(customer, date(2000, 2, 29))

    assert services.award_birthday_points(datetime(2027, 2, 28, 9, 0, tzinfo=UTC)) == 1
    assert services.award_birthday_points(datetime(2028, 2, 28, 9, 0, tzinfo=UTC)) == 0
    assert services.award_birthday_points(datetime(2028, 2, 29, 9, 0, tzinfo=UTC)) == 1
