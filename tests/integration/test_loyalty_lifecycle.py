"""The life of points: pending until the return window has passed, taken back by refunds and cancellations,
expired after inactivity (with a warning first), moving customers between tiers, and adjusted by staff.

Every test runs on its own clock (`now` passed to the services) and checks the balance against the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crontask import scheduler
from django.utils import timezone

from patron import events
from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from patron.loyalty import services
from patron.loyalty import tasks as loyalty_tasks
from patron.loyalty.models import EntryKind, LoyaltyPoints, PointsEntry, Reward, RuleKind, TierBasis, TierChange
from patron.orders import services as orders
from patron.orders.models import OrderStatus, OrderStatusChange
from tests.integration import test_loyalty_earning as shared
from tests.integration.test_loyalty_earning import balance, buy, kinds, make_rule, make_tier, pay, program
from tests.order_factories import make_order
from tests.servers import Inbox

pytestmark = pytest.mark.django_db
clock, kitchen, lamp, mug = shared.clock, shared.kitchen, shared.lamp, shared.mug  # fixtures


def _deliver(order_id: int, staff: User, at: datetime) -> None:
    order = orders.get_order(staff, order_id)
    orders.add_shipment(order, carrier="Royal Mail", tracking_number=f"RM{order_id}", actor=staff)
    orders.transition(order, OrderStatus.DELIVERED, actor=staff)
    OrderStatusChange.objects.filter(order_id=order_id, to_status=OrderStatus.DELIVERED).update(at=at)


# --- Pending -> available -----------------------------------------------------------------------------------


def test_points_become_available_once_the_return_window_after_delivery_has_passed(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    program(return_window_days=30)
    make_rule(RuleKind.SPEND, 1)
    order = buy(customer, (mug, 2), now=clock)
    delivered = clock + timedelta(days=3)
    _deliver(order.pk, staff, delivered)
    assert services.schedule_release(order.pk, delivered) == 1

    assert services.release_pending_points(delivered + timedelta(days=29)) == 0
    assert balance(customer) == (0, 40)
    assert services.release_pending_points(delivered + timedelta(days=30)) == 1
    assert balance(customer) == (40, 0)
    # Running again (or on a second worker) moves nothing more.
    assert services.release_pending_points(delivered + timedelta(days=31)) == 0
    assert kinds(customer) == [(EntryKind.EARNED, 0, 40), (EntryKind.RELEASED, 40, -40)]


def test_points_of_an_order_never_marked_delivered_are_released_later(
    customer: User, mug: Variant, clock: datetime
) -> None:
    program(undelivered_release_days=60)
    make_rule(RuleKind.SPEND, 1)
    buy(customer, (mug, 1), now=clock)

    assert services.release_pending_points(clock + timedelta(days=59)) == 0
    assert services.release_pending_points(clock + timedelta(days=60)) == 1
    assert balance(customer) == (20, 0)


def test_the_delivered_event_schedules_the_release(
    customer: User,
    staff: User,
    mug: Variant,
    clock: datetime,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = buy(customer, (mug, 1), now=clock)
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(order.pk, staff, clock)

    entry = PointsEntry.objects.get(user=customer)
    delivered = OrderStatusChange.objects.get(order=order, to_status=OrderStatus.DELIVERED).at
    assert entry.available_at is not None
    assert abs(
        entry.available_at - (delivered + timedelta(days=services.get_program().return_window_days))
    ) < timedelta(seconds=5)


# --- Refunds and cancellations ------------------------------------------------------------------------------


def test_a_partial_refund_takes_back_its_share_of_pending_points_once(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    make_rule(RuleKind.FIRST_ORDER, 50)
    order = buy(customer, (mug, 5), now=clock, shipping="0")  # 100.00 paid: 100 + 50 points
    orders.refund_order(order, Decimal("25.00"), actor=staff)

    services.reverse_order_points(order.pk, clock)
    services.reverse_order_points(order.pk, clock)  # the same event delivered twice
    assert balance(customer) == (0, 112)  # a quarter of 100 and of 50 goes back, rounded in the shop's favour

    orders.refund_order(order, Decimal("75.00"), actor=staff)
    services.reverse_order_points(order.pk, clock)
    assert balance(customer) == (0, 0)


def test_a_refund_after_release_comes_off_the_balance(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = buy(customer, (mug, 2), now=clock, shipping="0")
    services.release_pending_points(clock + timedelta(days=90))
    orders.refund_order(order, Decimal("20.00"), actor=staff)
    services.reverse_order_points(order.pk, clock + timedelta(days=91))

    assert balance(customer) == (20, 0)
    assert kinds(customer)[-1] == (EntryKind.REVERSED, -20, 0)


def test_a_cancellation_takes_back_every_point_and_never_leaves_a_negative_balance(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = buy(customer, (mug, 2), now=clock, shipping="0")
    services.release_pending_points(clock + timedelta(days=90))
    services.adjust_points(customer.pk, -30, reason="Spent in store", actor=staff, now=clock + timedelta(days=90))
    orders.cancel_order(order, actor=staff)
    services.reverse_order_points(order.pk, clock + timedelta(days=91))
    services.reverse_order_points(order.pk, clock + timedelta(days=91))

    assert balance(customer) == (0, 0)
    reversal = PointsEntry.objects.get(user=customer, kind=EntryKind.REVERSED)
    assert (reversal.points, reversal.shortfall) == (-10, 30)


def test_an_award_arriving_after_the_refund_still_gives_its_share_back(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = pay(make_order([(mug, 2)], user=customer, shipping="0", placed_at=clock))
    orders.refund_order(order, Decimal("10.00"), actor=staff)
    services.reverse_order_points(order.pk, clock)  # the refund's subscriber ran first: nothing to reverse yet
    services.award_order_points(order.pk, clock)

    assert balance(customer) == (0, 30)


def test_an_order_delivered_before_its_award_waits_for_the_return_window_only(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    program(return_window_days=30)
    make_rule(RuleKind.SPEND, 1)
    order = pay(make_order([(mug, 1)], user=customer, placed_at=clock))
    _deliver(order.pk, staff, clock)
    services.award_order_points(order.pk, clock + timedelta(days=2))

    assert PointsEntry.objects.get(user=customer).available_at == clock + timedelta(days=30)


def test_a_customer_is_deleted_with_their_whole_ledger(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    buy(customer, (mug, 1), now=clock)
    services.release_pending_points(clock + timedelta(days=90))
    Reward.objects.create(name="$5 off", kind="fixed", value=Decimal(5), points_cost=10)
    services.redeem_reward(customer, Reward.objects.get().pk, clock + timedelta(days=90))

    customer.delete()

    assert not PointsEntry.objects.exists()
    assert not LoyaltyPoints.objects.exists()


def test_cancelling_and_refunding_publish_the_events_that_reverse(
    customer: User,
    staff: User,
    mug: Variant,
    lamp: Variant,
    clock: datetime,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    make_rule(RuleKind.SPEND, 1)
    cancelled = buy(customer, (mug, 1), now=clock, shipping="0")
    refunded = buy(customer, (lamp, 1), now=clock, shipping="0")
    with django_capture_on_commit_callbacks(execute=True):
        orders.cancel_order(cancelled, actor=staff)
        orders.refund_order(refunded, Decimal("10.00"), actor=staff)

    assert balance(customer) == (0, 30)  # 60 earned, 20 for the cancelled mug and 10 of the lamp's 40 back


def test_paying_publishes_the_event_that_credits_points(
    customer: User,
    mug: Variant,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    make_rule(RuleKind.SPEND, 1)
    order = make_order([(mug, 1)], user=customer)
    with django_capture_on_commit_callbacks(execute=True):
        pay(order)

    assert balance(customer) == (0, 20)


# --- Expiry -------------------------------------------------------------------------------------------------


@pytest.fixture
def expiring(customer: User, clock: datetime) -> User:
    """A customer who earned 100 points at `clock` in a program where points expire after 365 days."""
    program(expiry_days=365, expiry_warning_days=14)
    make_rule(RuleKind.SIGNUP, 100)
    services.welcome_customer(customer.pk, now=clock)
    return customer


def test_customers_are_warned_by_email_before_their_points_expire(
    expiring: User, clock: datetime, smtp_inbox: Inbox
) -> None:
    assert services.warn_expiring_points(clock + timedelta(days=350)) == 0
    assert services.warn_expiring_points(clock + timedelta(days=351)) == 1
    assert services.warn_expiring_points(clock + timedelta(days=352)) == 0

    [message] = smtp_inbox.messages
    assert message["To"] == expiring.email
    assert "Your 100 points expire on" in message["Subject"]
    plain = message.get_body(("plain",))
    assert plain is not None and "https://shop.example.com/loyalty/" in plain.get_content()


def test_points_expire_after_inactivity_once(expiring: User, clock: datetime, smtp_inbox: Inbox) -> None:
    services.warn_expiring_points(clock + timedelta(days=351))

    assert services.expire_inactive_points(clock + timedelta(days=364)) == 0
    assert services.expire_inactive_points(clock + timedelta(days=365)) == 1
    assert services.expire_inactive_points(clock + timedelta(days=366)) == 0
    assert balance(expiring) == (0, 0)
    assert kinds(expiring)[-1] == (EntryKind.EXPIRED, -100, 0)


def test_nobody_loses_points_without_having_been_warned_first(
    expiring: User, clock: datetime, smtp_inbox: Inbox
) -> None:
    late = clock + timedelta(days=400)  # expiry switched on long after the last activity
    assert services.expire_inactive_points(late) == 0
    assert services.warn_expiring_points(late) == 1
    assert services.expire_inactive_points(late + timedelta(days=13)) == 0
    assert services.expire_inactive_points(late + timedelta(days=14)) == 1


def test_earning_or_redeeming_keeps_points_alive(
    expiring: User, mug: Variant, clock: datetime, smtp_inbox: Inbox
) -> None:
    make_rule(RuleKind.SPEND, 1)
    services.warn_expiring_points(clock + timedelta(days=351))
    buy(expiring, (mug, 1), now=clock + timedelta(days=360))

    assert services.expire_inactive_points(clock + timedelta(days=400)) == 0
    assert balance(expiring) == (100, 20)
    # A new stretch of inactivity gets its own warning.
    assert services.warn_expiring_points(clock + timedelta(days=360 + 351)) == 1


def test_points_never_expire_when_the_program_says_so(expiring: User, clock: datetime) -> None:
    program(expiry_days=0)
    assert services.warn_expiring_points(clock + timedelta(days=5000)) == 0
    assert services.expire_inactive_points(clock + timedelta(days=5000)) == 0


# --- Tiers --------------------------------------------------------------------------------------------------


def test_reaching_a_tier_is_immediate_and_recorded(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    bronze, silver = make_tier("Bronze", 0), make_tier("Silver", 100, "1.25")
    buy(customer, (mug, 2), now=clock)
    assert LoyaltyPoints.objects.get(user=customer).tier == bronze
    buy(customer, (mug, 3), now=clock + timedelta(days=1))

    account = LoyaltyPoints.objects.get(user=customer)
    assert account.tier == silver
    assert account.tier_until == clock + timedelta(days=1 + services.get_program().tier_period_days)
    changes = list(TierChange.objects.filter(user=customer).order_by("at").values_list("from_tier", "to_tier"))
    assert changes == [(None, bronze.pk), (bronze.pk, silver.pk)]


def test_a_tier_is_kept_for_the_period_then_follows_what_the_customer_qualifies_for(
    customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    program(tier_period_days=365)
    make_rule(RuleKind.SPEND, 1)
    bronze, silver = make_tier("Bronze", 0), make_tier("Silver", 100)
    order = buy(customer, (mug, 5), now=clock, shipping="0")
    # A refund takes the customer's points below Silver, but the tier is kept for its period.
    orders.refund_order(order, Decimal("60.00"), actor=staff)
    services.reverse_order_points(order.pk, clock)
    assert services.refresh_tier(customer.pk, clock + timedelta(days=10)) is None
    assert LoyaltyPoints.objects.get(user=customer).tier == silver

    assert services.refresh_lapsed_tiers(clock + timedelta(days=364)) == 0
    assert services.refresh_lapsed_tiers(clock + timedelta(days=365)) == 1
    account = LoyaltyPoints.objects.get(user=customer)
    assert account.tier == bronze
    change = TierChange.objects.filter(user=customer).order_by("-at").first()
    assert change is not None and (change.from_tier, change.to_tier) == (silver, bronze)


def test_tiers_by_spend_within_the_rolling_period(customer: User, lamp: Variant, clock: datetime) -> None:
    program(tier_basis=TierBasis.SPEND, tier_period_days=30)
    gold = make_tier("Gold", 80)
    old = make_order([(lamp, 1)], user=customer, shipping="0", placed_at=clock - timedelta(days=40))
    pay(old)
    buy(customer, (lamp, 1), now=clock, shipping="0")
    assert LoyaltyPoints.objects.get(user=customer).tier is None  # 40 within the period, the older 40 not

    buy(customer, (lamp, 1), now=clock, shipping="0")
    assert LoyaltyPoints.objects.get(user=customer).tier == gold


def test_progress_to_the_next_tier(customer: User, mug: Variant, clock: datetime) -> None:
    make_rule(RuleKind.SPEND, 1)
    make_tier("Bronze", 0)
    silver = make_tier("Silver", 100)
    buy(customer, (mug, 2), now=clock)

    progress = services.summary(customer, clock).progress
    assert progress.next_tier == silver
    assert (progress.qualifying, progress.remaining, progress.percent) == (40, 60, 40)


# --- Staff adjustments and the ledger check -----------------------------------------------------------------


def test_staff_adjust_points_with_a_reason_and_their_name(customer: User, staff: User, clock: datetime) -> None:
    entry = services.adjust_points(customer.pk, 75, reason="Parcel arrived late", actor=staff, now=clock)

    assert (entry.kind, entry.points, entry.actor, entry.description) == (
        EntryKind.ADJUSTED,
        75,
        staff,
        "Parcel arrived late",
    )
    assert balance(customer) == (75, 0)


def test_adjustments_are_refused_without_reason_for_customers_and_below_zero(customer: User, staff: User) -> None:
    with pytest.raises(PermissionDenied):
        services.adjust_points(customer.pk, 10, reason="Because", actor=customer)
    with pytest.raises(NotAuthenticated):
        services.adjust_points(customer.pk, 10, reason="Because", actor=None)
    with pytest.raises(ValidationFailed) as missing:
        services.adjust_points(customer.pk, 0, reason=" ", actor=staff)
    assert set(missing.value.fields) == {"points", "reason"}
    with pytest.raises(ValidationFailed, match="at most that many"):
        services.adjust_points(customer.pk, -1, reason="Oops", actor=staff)
    assert not PointsEntry.objects.exists()


def test_the_ledger_check_finds_a_balance_edited_by_hand(customer: User, staff: User) -> None:
    other = make_user("bob@example.com")
    services.adjust_points(customer.pk, 10, reason="Goodwill", actor=staff)
    services.adjust_points(other.pk, 10, reason="Goodwill", actor=staff)
    assert services.disagreeing_balances() == []

    LoyaltyPoints.objects.filter(user=other).update(points=500)
    assert services.disagreeing_balances() == [other.pk]
    assert not services.check_balance(other.pk).agrees


def test_unknown_events_targets_change_nothing(customer: User, clock: datetime) -> None:
    assert services.award_order_points(987654, clock) == []
    assert services.reverse_order_points(987654, clock) == []
    assert services.welcome_customer(987654, now=clock) == []
    assert services.award_review_points(customer.pk, 987654, clock) == []
    assert isinstance(events.ReviewApproved(review_id=1, user_id=1, product_id=1), events.Event)


# --- Scheduled jobs -----------------------------------------------------------------------------------------


def test_the_daily_jobs_are_scheduled() -> None:
    jobs = {job.name: job for job in scheduler.get_jobs()}
    midnight = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    expected = {
        loyalty_tasks.release_pending_points: (2, 10),
        loyalty_tasks.expire_points: (2, 20),
        loyalty_tasks.refresh_tiers: (2, 30),
        loyalty_tasks.check_balances: (3, 40),
        loyalty_tasks.award_birthday_points: (6, 5),
    }
    for job, (hour, minute) in expected.items():
        fire = jobs[job.name].trigger.get_next_fire_time(None, midnight)
        assert fire == midnight.replace(hour=hour, minute=minute), job.name


def test_the_jobs_run_on_the_store_clock(customer: User, staff: User, mug: Variant, immediate_tasks: None) -> None:
    make_rule(RuleKind.SPEND, 1)
    buy(customer, (mug, 1), now=timezone.now() - timedelta(days=90))

    assert loyalty_tasks.release_pending_points.enqueue().return_value == 1
    assert balance(customer) == (20, 0)
    LoyaltyPoints.objects.filter(user=customer).update(points=25)
    assert loyalty_tasks.check_balances.enqueue().return_value == 1
