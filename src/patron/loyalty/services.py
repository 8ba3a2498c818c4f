"""Loyalty rules: the points ledger, earning from orders and bonuses, tiers, rewards, referrals and expiry.

Every change of points goes through `_post`, which appends a ledger entry and moves the customer's balance
(`LoyaltyPoints`) with it while the balance row is locked, so the balance always equals the ledger's sum and
cannot go below zero, also when redemptions race. Awards carry an idempotency key, so a retried task adds
nothing. The commerce core never calls this module: it reacts to the core's events (see `tasks.py`) and uses the
core's services (discount codes come from `pricing.services.issue_discount_code`).

Every function that depends on the time takes `now` (default: `timezone.now()`), so tests control the clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from patron.accounts.auth import staff_required
from patron.accounts.models import Address, Preferences, User
from patron.catalog.models import Product, Variant
from patron.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from patron.loyalty import config, emails
from patron.loyalty.earning import (
    EarnLine,
    Multiplier,
    address_key,
    canonical_email,
    capped,
    level_above,
    level_for,
    paid_shares,
    progress_percent,
    share_kept,
    spend_points,
)
from patron.loyalty.models import (
    EarningRule,
    EntryKind,
    LoyaltyPoints,
    LoyaltyProgram,
    PointsEntry,
    Referral,
    ReferralStatus,
    Reward,
    RuleKind,
    Tier,
    TierBasis,
    TierChange,
)
from patron.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from patron.payments.models import Payment, PaymentEvent, PaymentEventKind, PaymentStatus
from patron.pricing.models import DiscountCode, DiscountKind
from patron.pricing.services import RELEASED_ORDER_STATUSES, issue_discount_code

# Unambiguous when read aloud or typed from a friend's message: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 8
REWARD_CODE_PREFIX = "REWARD"
PERK_CODE_PREFIX = "PERK"
PERK_NOTE = "Loyalty perk: free shipping"
PERK_CODE_DAYS = 1
MAX_ADJUSTMENT = 1_000_000
CENT = Decimal("0.01")
HISTORY_PAGE_SIZE = 20
MAX_HISTORY_PAGE_SIZE = 100
# Orders whose money the store kept: they count as purchases for first-order bonuses, referrals and spend tiers.
KEPT_ORDER_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.PROCESSING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.REFUNDED,
)
SETTLED_PAYMENTS = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
# Entries that count as using the program when they add points (redeeming always does): inactivity, and with it
# expiry, is measured from the last one.
CREDIT_ACTIVITY_KINDS = (EntryKind.EARNED, EntryKind.ADJUSTED)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _require_customer(user: User | None) -> User:
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Sign in to use your points.")
    return user


# --- Program, rules and tiers -------------------------------------------------------------------------------


def get_program() -> LoyaltyProgram:
    return config.current().program


def open_rules(now: datetime | None = None) -> dict[str, list[EarningRule]]:
    """The rules switched on and within their dates at `now`, by kind."""
    return config.current().open_rules(_now(now))


def _multipliers(rules: dict[str, list[EarningRule]]) -> list[Multiplier]:
    return [
        Multiplier(
            factor=rule.multiplier,
            product_id=rule.product_id,
            category_path=rule.category.path if rule.category is not None else None,
        )
        for rule in rules.get(RuleKind.MULTIPLIER, [])
    ]


def all_tiers() -> list[Tier]:
    return config.current().tiers


def _tier_of(account: LoyaltyPoints | None) -> Tier | None:
    return config.current().tier(account.tier_id) if account is not None else None


# --- Accounts and the ledger --------------------------------------------------------------------------------


def _new_referral_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def _ensure_account(user_id: int, now: datetime) -> LoyaltyPoints:
    """The customer's balance row, created on first use; a concurrent creation is found instead of duplicated."""
    existing = LoyaltyPoints.objects.filter(user_id=user_id).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return LoyaltyPoints.objects.create(
                    user_id=user_id, referral_code=_new_referral_code(), last_activity_at=now, updated_at=now
                )
        except IntegrityError:
            existing = LoyaltyPoints.objects.filter(user_id=user_id).first()
            if existing is not None:
                return existing
    raise Conflict("Could not open a points account; try again.")


def account_for(user: User, now: datetime | None = None) -> LoyaltyPoints:
    return _ensure_account(_require_customer(user).pk, _now(now))


def _locked(user_ids: Iterable[int], now: datetime) -> dict[int, LoyaltyPoints]:
    """Balance rows locked until the caller's transaction ends, taken in key order so no two callers deadlock."""
    wanted = sorted(set(user_ids))
    for user_id in wanted:
        _ensure_account(user_id, now)
    locked = LoyaltyPoints.objects.select_for_update().filter(user_id__in=wanted).order_by("user_id")
    return {account.user_id: account for account in locked}


def _lock(user_id: int, now: datetime) -> LoyaltyPoints:
    return _locked([user_id], now)[user_id]


def _post(
    account: LoyaltyPoints,
    kind: str,
    *,
    now: datetime,
    points: int = 0,
    pending: int = 0,
    key: str | None = None,
    description: str = "",
    **links: Any,
) -> PointsEntry | None:
    """Append an entry and move the locked balance with it; None when the key was used before (a replay)."""
    if key is not None and PointsEntry.objects.filter(key=key).exists():
        return None
    if account.points + points < 0 or account.pending + pending < 0:
        raise Conflict("There are not enough points for this.", code="not_enough_points")
    entry = PointsEntry.objects.create(
        user_id=account.user_id,
        kind=kind,
        points=points,
        pending=pending,
        key=key,
        description=description[:200],
        created_at=now,
        **links,
    )
    account.points += points
    account.pending += pending
    account.updated_at = now
    changed = ["points", "pending", "updated_at"]
    if kind == EntryKind.REDEEMED or (kind in CREDIT_ACTIVITY_KINDS and points + pending > 0):
        account.last_activity_at = now
        changed.append("last_activity_at")
    account.save(update_fields=changed)
    return entry


def _award(
    account: LoyaltyPoints, rule: EarningRule, points: int, *, now: datetime, key: str, pending: bool, **links: Any
) -> PointsEntry | None:
    """Points from a rule, within the rule's limits; pending ones wait for `available_at` in `links`."""
    points = capped(points, rule.max_points_per_award)
    if points <= 0:
        return None
    if rule.max_awards_per_customer is not None:
        awards = PointsEntry.objects.filter(user_id=account.user_id, rule=rule, kind=EntryKind.EARNED).count()
        if awards >= rule.max_awards_per_customer:
            return None
    return _post(
        account,
        EntryKind.EARNED,
        now=now,
        points=0 if pending else points,
        pending=points if pending else 0,
        key=key,
        rule=rule,
        **links,
    )


@dataclass(frozen=True)
class BalanceCheck:
    points: int
    pending: int
    ledger_points: int
    ledger_pending: int

    @property
    def agrees(self) -> bool:
        return (self.points, self.pending) == (self.ledger_points, self.ledger_pending)


def check_balance(user_id: int) -> BalanceCheck:
    """The stored balance beside the sum of the customer's ledger."""
    account = LoyaltyPoints.objects.filter(user_id=user_id).first()
    sums = PointsEntry.objects.filter(user_id=user_id).aggregate(
        points=Coalesce(Sum("points"), 0), pending=Coalesce(Sum("pending"), 0)
    )
    return BalanceCheck(
        points=account.points if account else 0,
        pending=account.pending if account else 0,
        ledger_points=sums["points"],
        ledger_pending=sums["pending"],
    )


def with_ledger_sums(accounts: QuerySet[LoyaltyPoints]) -> QuerySet[LoyaltyPoints]:
    """Annotate each balance with its ledger's sums (`ledger_points`, `ledger_pending`) in the same query."""
    entries = PointsEntry.objects.filter(user_id=OuterRef("user_id")).values("user_id")
    return accounts.annotate(
        ledger_points=Coalesce(Subquery(entries.annotate(total=Sum("points")).values("total")), 0),
        ledger_pending=Coalesce(Subquery(entries.annotate(total=Sum("pending")).values("total")), 0),
    )


def disagreeing_balances() -> list[int]:
    """Users whose stored balance differs from their ledger's sum (never expected: a sign of a bug or a hand edit)."""
    disagreeing = with_ledger_sums(LoyaltyPoints.objects.all()).filter(
        ~Q(points=F("ledger_points")) | ~Q(pending=F("ledger_pending"))
    )
    return list(disagreeing.values_list("user_id", flat=True))


# --- Earning from orders ------------------------------------------------------------------------------------


def _earn_lines(order: Order) -> list[EarnLine]:
    rows = list(
        OrderLine.objects.filter(order=order)
        .order_by("pk")
        .values_list("product_id", "product__category__path", "line_total")
    )
    shares = paid_shares([total for _, _, total in rows], order.discount)
    return [
        EarnLine(product_id=product_id, category_path=path or "", amount=share)
        for (product_id, path, _), share in zip(rows, shares, strict=True)
    ]


def _extra(program: LoyaltyProgram, shipping: Decimal, tax: Decimal) -> Decimal:
    return (shipping if program.earn_on_shipping else Decimal(0)) + (tax if program.earn_on_tax else Decimal(0))


def _is_first_order(order: Order) -> bool:
    """No earlier order of the same customer was paid and kept."""
    if order.user_id is None:
        return False
    earlier = Order.objects.filter(
        user_id=order.user_id, status__in=KEPT_ORDER_STATUSES, placed_at__lte=order.placed_at
    )
    return not earlier.exclude(pk=order.pk).exists()


def award_order_points(order_id: int, now: datetime | None = None) -> list[PointsEntry]:
    """A customer's order was paid: its points (spending, first order, referral) are credited as pending.

    They become available once the return window has passed after delivery (see `schedule_release`), or
    `undelivered_release_days` after payment for orders never marked delivered. Guests earn nothing.
    """
    now = _now(now)
    program = get_program()
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.user_id is None or not program.is_active or order.status not in KEPT_ORDER_STATUSES:
        return []
    rules = open_rules(now)
    lines = _earn_lines(order)
    links = {"order": order, "available_at": _release_at(order.pk, program, now)}
    description = f"Order {order.number}"
    entries: list[PointsEntry | None] = []
    with transaction.atomic():
        account = _lock(order.user_id, now)
        tier = _tier_of(account)
        for rule in rules.get(RuleKind.SPEND, []):
            points = spend_points(
                lines,
                per_unit=rule.points,
                extra=_extra(program, order.shipping, order.tax),
                multipliers=_multipliers(rules),
                tier_multiplier=tier.earn_multiplier if tier is not None else Decimal(1),
            )
            key = f"order:{order.pk}:rule:{rule.pk}"
            entries.append(
                _award(account, rule, points, now=now, key=key, pending=True, description=description, **links)
            )
        if _is_first_order(order):
            for rule in rules.get(RuleKind.FIRST_ORDER, []):
                key = f"first-order:rule:{rule.pk}:user:{order.user_id}"
                entries.append(
                    _award(account, rule, rule.points, now=now, key=key, pending=True, description=description, **links)
                )
    entries.extend(_settle_referral(order, rules, now=now, links=links))
    # A refund or cancellation handled before this (late or retried) award still takes its share back.
    reverse_order_points(order.pk, now)
    refresh_tier(order.user_id, now)
    return [entry for entry in entries if entry is not None]


def _release_at(order_id: int, program: LoyaltyProgram, now: datetime) -> datetime:
    """When an order's pending points become available: the return window after delivery, or for an order not
    (yet) delivered, `undelivered_release_days` from now."""
    delivered = (
        OrderStatusChange.objects.filter(order_id=order_id, to_status=OrderStatus.DELIVERED)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if delivered is None:
        return now + timedelta(days=program.undelivered_release_days)
    return delivered + timedelta(days=program.return_window_days)


def schedule_release(order_id: int, now: datetime | None = None) -> int:
    """The order was delivered: its pending points become available once the return window has passed."""
    release_at = _release_at(order_id, get_program(), _now(now))
    # Only the time changes, never an amount: the ledger's sums stay as they were.
    return PointsEntry.objects.filter(order_id=order_id, kind=EntryKind.EARNED, pending__gt=0).update(
        available_at=release_at
    )


def _still_pending(entries: QuerySet[PointsEntry]) -> QuerySet[PointsEntry]:
    """The earned entries some of whose pending points are not yet released or reversed, annotated with how many
    (`pending_left`)."""
    moved = (
        PointsEntry.objects.filter(source=OuterRef("pk"))
        .values("source")
        .annotate(total=Sum("pending"))
        .values("total")
    )
    return entries.annotate(pending_left=F("pending") + Coalesce(Subquery(moved), 0)).filter(pending_left__gt=0)


def release_pending_points(now: datetime | None = None) -> int:
    """Make the pending points whose time has come available; safe to run twice or on several workers."""
    now = _now(now)
    due = _still_pending(PointsEntry.objects.filter(kind=EntryKind.EARNED, pending__gt=0, available_at__lte=now))
    released = 0
    for entry_id, user_id in due.order_by("user_id", "pk").values_list("pk", "user_id"):
        with transaction.atomic():
            account = _lock(user_id, now)
            # Again under the lock: a reversal may have taken the points meanwhile.
            entry = _still_pending(PointsEntry.objects.filter(pk=entry_id)).first()
            if entry is None:
                continue
            left: int = entry.pending_left  # type: ignore[attr-defined]
            moved = _post(
                account,
                EntryKind.RELEASED,
                now=now,
                points=left,
                pending=-left,
                key=f"release:{entry.pk}",
                description=entry.description,
                source=entry,
                order_id=entry.order_id,
            )
            released += moved is not None
    return released


def _refunded_fraction(order: Order) -> Decimal:
    if order.status == OrderStatus.CANCELLED:
        return Decimal(1)
    totals = Payment.objects.filter(order=order, status__in=SETTLED_PAYMENTS).aggregate(
        paid=Sum("amount"), refunded=Sum("amount_refunded")
    )
    paid, refunded = totals["paid"] or Decimal(0), totals["refunded"] or Decimal(0)
    return min(refunded / paid, Decimal(1)) if paid > 0 else Decimal(0)


def reverse_order_points(order_id: int, now: datetime | None = None) -> list[PointsEntry]:
    """Take back the share of an order's points that matches what was refunded (all of them when cancelled).

    Idempotent by construction: the target is recomputed from the payments each time and only what is still
    due is reversed. Pending points go first; points already released come off the balance, and what was spent
    meanwhile is recorded as a shortfall instead of driving the balance below zero.
    """
    now = _now(now)
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return []
    fraction = _refunded_fraction(order)
    earned = list(
        PointsEntry.objects.filter(order=order, kind=EntryKind.EARNED).prefetch_related("followups").order_by("pk")
    )
    if fraction <= 0 or not earned:
        return []
    reversals: list[PointsEntry | None] = []
    verb = "cancelled" if order.status == OrderStatus.CANCELLED else "refunded"
    with transaction.atomic():
        accounts = _locked((entry.user_id for entry in earned), now)
        for entry in earned:
            followups = list(entry.followups.all())
            value = entry.points + entry.pending
            taken = sum(-(f.points + f.pending) + f.shortfall for f in followups if f.kind == EntryKind.REVERSED)
            due = value - share_kept(value, fraction) - taken
            if due <= 0:
                continue
            account = accounts[entry.user_id]
            pending_left = entry.pending + sum(f.pending for f in followups)
            from_pending = min(due, max(pending_left, 0))
            from_points = min(due - from_pending, account.points)
            reversals.append(
                _post(
                    account,
                    EntryKind.REVERSED,
                    now=now,
                    points=-from_points,
                    pending=-from_pending,
                    description=f"Order {order.number} {verb}",
                    source=entry,
                    order=order,
                    rule_id=entry.rule_id,
                    shortfall=due - from_pending - from_points,
                )
            )
    return [entry for entry in reversals if entry is not None]


# --- Bonuses ------------------------------------------------------------------------------------------------


def _bonus_rules(kind: str, now: datetime) -> list[EarningRule]:
    return open_rules(now).get(kind, []) if get_program().is_active else []


def _award_bonus(
    user_id: int, rules: Sequence[EarningRule], key_of: str, description: str, now: datetime
) -> list[PointsEntry]:
    """Credit each rule once for `key_of` (the award's identity within the rule), available at once."""
    if not rules:
        return []
    awarded: list[PointsEntry | None] = []
    with transaction.atomic():
        account = _lock(user_id, now)
        for rule in rules:
            key = f"{rule.kind}:rule:{rule.pk}:{key_of}"
            awarded.append(_award(account, rule, rule.points, now=now, key=key, pending=False, description=description))
    return [entry for entry in awarded if entry is not None]


def welcome_customer(user_id: int, referral_code: str = "", now: datetime | None = None) -> list[PointsEntry]:
    """A new account: the sign-up bonus, and the referral it came with (rewarded after the first paid order)."""
    now = _now(now)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return []
    if referral_code.strip():
        _record_referral(user, referral_code, now)
    return _award_bonus(user_id, _bonus_rules(RuleKind.SIGNUP, now), f"user:{user_id}", "Welcome bonus", now)


def award_review_points(user_id: int, product_id: int, now: datetime | None = None) -> list[PointsEntry]:
    """A review of the customer's was approved: points once per product and customer, however often it is sent."""
    now = _now(now)
    product = Product.objects.filter(pk=product_id).first()
    if product is None or not User.objects.filter(pk=user_id, is_active=True).exists():
        return []
    rules = _bonus_rules(RuleKind.REVIEW, now)
    return _award_bonus(user_id, rules, f"user:{user_id}:product:{product_id}", f"Review of {product.name}", now)


def _birthdays_on(day: date) -> Q:
    """Birthdays celebrated on `day`: those born on 29 February celebrate on the 28th in other years."""
    born = Q(birthday__month=day.month, birthday__day=day.day)
    is_leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    if (day.month, day.day) == (2, 28) and not is_leap:
        born |= Q(birthday__month=2, birthday__day=29)
    return born


def award_birthday_points(now: datetime | None = None) -> int:
    """Birthday points for everyone celebrating today (the store's date); once per customer and year."""
    now = _now(now)
    today = timezone.localdate(now)
    rules = _bonus_rules(RuleKind.BIRTHDAY, now)
    if not rules:
        return 0
    celebrating = Preferences.objects.filter(_birthdays_on(today), user__is_active=True).order_by("user_id")
    awarded = 0
    for user_id in celebrating.values_list("user_id", flat=True):
        awarded += len(_award_bonus(user_id, rules, f"user:{user_id}:{today.year}", "Happy birthday!", now))
    return awarded


# --- Referrals ----------------------------------------------------------------------------------------------


def normalize_referral_code(code: str) -> str:
    return code.strip().upper()


def referral_link(referral_code: str) -> str:
    """The invitation a customer shares: the sign-up page with their code filled in."""
    return f"{settings.SITE_URL.rstrip('/')}{reverse('accounts:register')}?ref={referral_code}"


def _record_referral(user: User, code: str, now: datetime) -> Referral | None:
    referrer = LoyaltyPoints.objects.filter(referral_code=normalize_referral_code(code)).select_related("user").first()
    if referrer is None:
        return None
    reason = ""
    if referrer.user_id == user.pk or canonical_email(referrer.user.email) == canonical_email(user.email):
        reason = "Self-referral: the same person."
    referral, _ = Referral.objects.get_or_create(
        referred=user,
        defaults={
            "referrer_id": referrer.user_id,
            "status": ReferralStatus.REFUSED if reason else ReferralStatus.PENDING,
            "reason": reason,
            "created_at": now,
            "decided_at": now if reason else None,
        },
    )
    return referral


def _card_fingerprints(payments: QuerySet[Payment]) -> set[str]:
    """What identifies the cards of succeeded payments: the provider's fingerprint, else brand and last four digits.

    The offline test provider records brand and last4 only (no expiry), so those two stand in for a fingerprint.
    """
    fingerprints = set()
    events = PaymentEvent.objects.filter(payment__in=payments, kind=PaymentEventKind.SUCCEEDED)
    for data in events.values_list("data", flat=True):
        if not isinstance(data, dict):
            continue
        if data.get("fingerprint"):
            fingerprints.add(f"fp:{data['fingerprint']}")
        elif data.get("last4"):
            fingerprints.add(f"card:{data.get('brand', '')}:{data['last4']}")
    return fingerprints


def referral_abuse(referral: Referral, order: Order) -> str:
    """Why the referral of `order`'s customer must not be rewarded, or "" when nothing is suspicious."""
    referrer = referral.referrer
    referred_emails = {canonical_email(order.email), canonical_email(referral.referred.email)}
    if referrer.pk == referral.referred_id or canonical_email(referrer.email) in referred_emails:
        return "Self-referral: the same person."
    address = address_key(order.shipping_address or {})
    referrer_addresses = {
        address_key(fields)
        for fields in Address.objects.filter(user=referrer).values("line1", "postal_code", "country")
    } | {
        address_key(shipped or {})
        for shipped in Order.objects.filter(user=referrer).values_list("shipping_address", flat=True)
    }
    if address.strip("|") and address in referrer_addresses:
        return "Same shipping address as the inviting customer."
    cards = _card_fingerprints(Payment.objects.filter(order=order))
    if cards & _card_fingerprints(Payment.objects.filter(order__user=referrer)):
        return "Same payment card as the inviting customer."
    return ""


def _settle_referral(
    order: Order, rules: dict[str, list[EarningRule]], *, now: datetime, links: dict[str, Any]
) -> list[PointsEntry | None]:
    """The referred customer's first paid order: reward both, unless a guard or the inviter's limit refuses it."""
    pending = Referral.objects.filter(referred_id=order.user_id, status=ReferralStatus.PENDING)
    referral = pending.select_related("referrer", "referred").first()
    if referral is None or not _is_first_order(order):
        return []
    reason = referral_abuse(referral, order)
    referrer_rules = rules.get(RuleKind.REFERRER, [])
    referred_rules = rules.get(RuleKind.REFERRED, [])
    if not reason and not (referrer_rules or referred_rules):
        reason = "No referral reward was on offer."
    entries: list[PointsEntry | None] = []
    with transaction.atomic():
        accounts = _locked([referral.referrer_id, referral.referred_id], now)
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        if referral.status != ReferralStatus.PENDING:
            return []
        if not reason and any(_limit_reached(referral.referrer_id, rule) for rule in referrer_rules):
            reason = "The inviting customer has reached the referral limit."
        if not reason:
            pairs = [(referral.referrer_id, rule) for rule in referrer_rules]
            pairs += [(referral.referred_id, rule) for rule in referred_rules]
            for user_id, rule in pairs:
                entries.append(
                    _award(
                        accounts[user_id],
                        rule,
                        rule.points,
                        now=now,
                        key=f"referral:{referral.pk}:rule:{rule.pk}",
                        pending=True,
                        description=f"Referral: order {order.number}",
                        **links,
                    )
                )
        referral.status = ReferralStatus.REFUSED if reason else ReferralStatus.REWARDED
        referral.reason = reason
        referral.order = order
        referral.decided_at = now
        referral.save(update_fields=["status", "reason", "order", "decided_at"])
    return entries


def _limit_reached(user_id: int, rule: EarningRule) -> bool:
    if rule.max_awards_per_customer is None:
        return False
    awards = PointsEntry.objects.filter(user_id=user_id, rule=rule, kind=EntryKind.EARNED).count()
    return awards >= rule.max_awards_per_customer


@dataclass(frozen=True)
class ReferralStats:
    code: str
    link: str
    invited: int
    rewarded: int


def referral_stats(user: User | None, now: datetime | None = None) -> ReferralStats:
    user = _require_customer(user)
    account = account_for(user, now)
    counts = Referral.objects.filter(referrer=user).aggregate(
        invited=Count("pk"), rewarded=Count("pk", filter=Q(status=ReferralStatus.REWARDED))
    )
    return ReferralStats(
        code=account.referral_code,
        link=referral_link(account.referral_code),
        invited=counts["invited"],
        rewarded=counts["rewarded"],
    )


# --- Tiers --------------------------------------------------------------------------------------------------


def qualifying_amount(user_id: int, program: LoyaltyProgram, now: datetime) -> Decimal:
    """What counts towards a tier within the rolling period: points earned (less reversals) or money kept."""
    since = now - timedelta(days=program.tier_period_days)
    if program.tier_basis == TierBasis.POINTS:
        earned = PointsEntry.objects.filter(
            user_id=user_id, kind__in=(EntryKind.EARNED, EntryKind.REVERSED), created_at__gt=since, created_at__lte=now
        ).aggregate(total=Coalesce(Sum(F("points") + F("pending")), 0))["total"]
        return Decimal(max(earned, 0))
    orders = Order.objects.filter(
        user_id=user_id, status__in=KEPT_ORDER_STATUSES, placed_at__gt=since, placed_at__lte=now
    )
    spent = orders.aggregate(total=Sum("total"))["total"] or Decimal(0)
    refunded = Payment.objects.filter(order__in=orders).aggregate(total=Sum("amount_refunded"))["total"] or Decimal(0)
    return max(spent - refunded, Decimal(0))


def refresh_tier(user_id: int, now: datetime | None = None) -> TierChange | None:
    """Move the customer up as soon as they qualify; down only once the period they hold their tier for is over."""
    now = _now(now)
    program = get_program()
    tiers = all_tiers()
    amount = qualifying_amount(user_id, program, now)
    reached = level_for(amount, tiers)
    kept_until = now + timedelta(days=program.tier_period_days)
    with transaction.atomic():
        account = _lock(user_id, now)
        current = _tier_of(account)
        held = current is not None and account.tier_until is not None and account.tier_until > now
        target: Tier | None
        if reached is not None and (current is None or reached.threshold >= current.threshold):
            target, account.tier_until = reached, kept_until
        elif held:
            return None
        else:
            target = reached
            account.tier_until = kept_until if reached is not None else None
        account.tier = target
        account.save(update_fields=["tier", "tier_until"])
        if target == current:
            return None
        return TierChange.objects.create(user_id=user_id, from_tier=current, to_tier=target, qualifying=amount, at=now)


def refresh_lapsed_tiers(now: datetime | None = None) -> int:
    """Customers whose kept period ended move to the tier they qualify for now (daily)."""
    now = _now(now)
    lapsed = LoyaltyPoints.objects.filter(tier__isnull=False, tier_until__lte=now).order_by("user_id")
    return sum(refresh_tier(user_id, now) is not None for user_id in lapsed.values_list("user_id", flat=True))


@dataclass(frozen=True)
class TierProgress:
    tier: Tier | None
    tier_until: datetime | None
    next_tier: Tier | None
    qualifying: Decimal
    remaining: Decimal
    percent: int
    basis: str


def tier_progress(account: LoyaltyPoints, program: LoyaltyProgram, now: datetime) -> TierProgress:
    tiers = all_tiers()
    amount = qualifying_amount(account.user_id, program, now)
    # A new customer is shown the tier their points reach (the entry tier) before any refresh has stored it.
    current = _tier_of(account) or level_for(amount, tiers)
    upcoming = level_above(current, amount, tiers)
    start = current.threshold if current is not None else Decimal(0)
    return TierProgress(
        tier=current,
        tier_until=account.tier_until,
        next_tier=upcoming,
        qualifying=amount.quantize(CENT),
        remaining=max(upcoming.threshold - amount, Decimal(0)).quantize(CENT) if upcoming is not None else Decimal(0),
        percent=progress_percent(amount, start, upcoming.threshold) if upcoming is not None else 100,
        basis=program.tier_basis,
    )


# --- Rewards ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardOption:
    reward: Reward
    can_redeem: bool
    reason: str  # why not, when it cannot be redeemed


def _early_access_refusal(reward: Reward, tier: Tier | None, now: datetime) -> str:
    if reward.early_access_until is None or now >= reward.early_access_until or (tier and tier.early_access):
        return ""
    opens = timezone.localtime(reward.early_access_until)
    return f"Early access for members with early access perks; open to all from {opens:%B} {opens.day}."


def reward_options(user: User | None, now: datetime | None = None) -> list[RewardOption]:
    """The active rewards, each with whether this customer (or a visitor) can redeem it now and why not."""
    now = _now(now)
    if user is None or not user.is_authenticated:
        return [RewardOption(reward, False, "Sign in to redeem.") for reward in config.current().rewards]
    return _options_for(account_for(user, now), now)


def _options_for(account: LoyaltyPoints | None, now: datetime) -> list[RewardOption]:
    tier = _tier_of(account)
    balance = account.points if account is not None else 0
    options = []
    for reward in config.current().rewards:
        reason = _early_access_refusal(reward, tier, now)
        if not reason and balance < reward.points_cost:
            reason = f"{reward.points_cost - balance} more points needed."
        options.append(RewardOption(reward, not reason, reason))
    return options


@dataclass(frozen=True)
class Redemption:
    code: DiscountCode
    entry: PointsEntry
    balance: int


def redeem_reward(user: User | None, reward_id: int, now: datetime | None = None) -> Redemption:
    """Spend points on a reward: a single-use code for this customer, issued in the transaction that debits them.

    The balance row is locked first, so simultaneous redemptions are served one after another and those the
    balance no longer covers are refused (Conflict), never leaving it below zero.
    """
    user = _require_customer(user)
    now = _now(now)
    if not get_program().is_active:
        raise Conflict("The rewards program is paused.", code="program_paused")
    reward = Reward.objects.filter(pk=reward_id, is_active=True).select_related("product").first()
    if reward is None:
        raise NotFound("No such reward.")
    with transaction.atomic():
        account = _lock(user.pk, now)
        refusal = _early_access_refusal(reward, _tier_of(account), now)
        if refusal:
            raise Conflict(refusal, code="early_access")
        if account.points < reward.points_cost:
            raise Conflict(
                f"This reward needs {reward.points_cost} points; you have {account.points}.", code="not_enough_points"
            )
        code = issue_discount_code(
            kind=reward.kind,
            value=reward.value,
            product=reward.product,
            prefix=REWARD_CODE_PREFIX,
            min_subtotal=reward.min_order,
            valid_for=timedelta(days=reward.valid_days),
            user=user,
            note=f"Loyalty reward: {reward.name}"[:200],
        )
        entry = _post(
            account,
            EntryKind.REDEEMED,
            now=now,
            points=-reward.points_cost,
            description=reward.name,
            reward=reward,
            discount_code=code,
        )
    assert entry is not None  # no key: an entry is always written
    return Redemption(code=code, entry=entry, balance=account.points)


def _unused(codes: QuerySet[DiscountCode], now: datetime) -> QuerySet[DiscountCode]:
    used = ~Q(redemptions__order__status__in=RELEASED_ORDER_STATUSES) & Q(redemptions__isnull=False)
    live = Q(is_active=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    return codes.filter(live).exclude(pk__in=DiscountCode.objects.filter(used).values("pk"))


def reward_codes(user: User, now: datetime | None = None) -> list[DiscountCode]:
    """The customer's redeemed reward codes that still work: not used on an order and not expired."""
    now = _now(now)
    mine = DiscountCode.objects.filter(user=user, points_entry__isnull=False)
    return list(_unused(mine, now).select_related("points_entry__reward").order_by("ends_at", "pk"))


def free_shipping_perk_code(user: User | None, now: datetime | None = None) -> DiscountCode:
    """A free shipping code for a member of a tier with that perk: an unused one of theirs, else a new one."""
    user = _require_customer(user)
    now = _now(now)
    tier = _tier_of(account_for(user, now))
    if tier is None or not tier.free_shipping:
        raise Conflict("Free shipping is a perk of higher tiers.", code="no_perk")
    mine = DiscountCode.objects.filter(user=user, kind=DiscountKind.FREE_SHIPPING, note=PERK_NOTE)
    existing = _unused(mine, now).order_by("pk").first()
    if existing is not None:
        return existing
    return issue_discount_code(
        kind=DiscountKind.FREE_SHIPPING,
        prefix=PERK_CODE_PREFIX,
        valid_for=timedelta(days=PERK_CODE_DAYS),
        user=user,
        note=PERK_NOTE,
    )


def code_for_checkout(user: User | None, *, reward_id: str = "", perk: str = "", now: datetime | None = None) -> str:
    """The code a one-click choice at checkout puts into the discount field: a reward redeemed now, or a perk."""
    if perk:
        if perk != "free_shipping":
            raise ValidationFailed("Unknown perk.", fields={"discount_code": ["Unknown perk."]})
        return free_shipping_perk_code(user, now).code
    try:
        wanted = int(reward_id)
    except ValueError:
        raise NotFound("No such reward.") from None
    return redeem_reward(user, wanted, now).code.code


# --- Staff adjustments --------------------------------------------------------------------------------------


def adjust_points(
    user_id: int, points: int, *, reason: str, actor: User | None, now: datetime | None = None
) -> PointsEntry:
    """Staff add or remove points with a reason, recorded with their name; a balance never goes below zero."""
    staff_required(actor)
    now = _now(now)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Say why the points change."]
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        errors["points"] = [f"A change from -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}, not 0."]
    if errors:
        raise ValidationFailed("The adjustment is not valid.", fields=errors)
    if not User.objects.filter(pk=user_id).exists():
        raise NotFound("No such customer.")
    with transaction.atomic():
        account = _lock(user_id, now)
        if account.points + points < 0:
            message = f"The customer has {account.points} points: at most that many can be removed."
            raise ValidationFailed(message, fields={"points": [message]})
        entry = _post(account, EntryKind.ADJUSTED, now=now, points=points, description=reason, actor=actor)
    assert entry is not None
    return entry


# --- Expiry -------------------------------------------------------------------------------------------------


def _warned(account: LoyaltyPoints) -> bool:
    """Whether the customer was warned during their current stretch of inactivity."""
    return account.expiry_warned_at is not None and account.expiry_warned_at >= account.last_activity_at


def expiry_date(account: LoyaltyPoints, program: LoyaltyProgram) -> datetime | None:
    """When the available points expire: after the inactivity period, never sooner than the warning period after
    the warning (so a program that starts expiring old balances still warns everyone first)."""
    if program.expiry_days == 0 or account.points <= 0:
        return None
    expires = account.last_activity_at + timedelta(days=program.expiry_days)
    if _warned(account):
        assert account.expiry_warned_at is not None
        expires = max(expires, account.expiry_warned_at + timedelta(days=program.expiry_warning_days))
    return expires


def warn_expiring_points(now: datetime | None = None) -> int:
    """Email customers whose points expire within the warning period, once per stretch of inactivity."""
    now = _now(now)
    program = get_program()
    if program.expiry_days == 0:
        return 0
    warn_from = now - timedelta(days=max(program.expiry_days - program.expiry_warning_days, 0))
    due = LoyaltyPoints.objects.filter(
        Q(expiry_warned_at__isnull=True) | Q(expiry_warned_at__lt=F("last_activity_at")),
        points__gt=0,
        last_activity_at__lte=warn_from,
        user__is_active=True,
    )
    warned = 0
    for user_id in due.order_by("user_id").values_list("user_id", flat=True):
        with transaction.atomic():
            account = LoyaltyPoints.objects.select_for_update().get(user_id=user_id)
            if account.points <= 0 or _warned(account) or account.last_activity_at > warn_from:
                continue
            # Marked in the transaction that sends: a failed send leaves no mark, so the next run retries.
            account.expiry_warned_at = now
            account.save(update_fields=["expiry_warned_at"])
            expires_at = expiry_date(account, program)
            assert expires_at is not None
            emails.send_expiry_warning(account, expires_at, program)
            warned += 1
    return warned


def expire_inactive_points(now: datetime | None = None) -> int:
    """Expire the available points of customers inactive for the program's period and warned in time.

    Once per stretch of inactivity (the entry's key names it), so running twice expires nothing more.
    """
    now = _now(now)
    program = get_program()
    if program.expiry_days == 0:
        return 0
    cutoff = now - timedelta(days=program.expiry_days)
    stale = LoyaltyPoints.objects.filter(points__gt=0, last_activity_at__lte=cutoff).order_by("user_id")
    expired = 0
    for user_id in stale.values_list("user_id", flat=True):
        with transaction.atomic():
            account = _lock(user_id, now)
            expires_at = expiry_date(account, program)
            if expires_at is None or expires_at > now or not (_warned(account) or program.expiry_warning_days == 0):
                continue
            entry = _post(
                account,
                EntryKind.EXPIRED,
                now=now,
                points=-account.points,
                key=f"expiry:{user_id}:{account.last_activity_at:%Y%m%d%H%M%S%f}",
                description=f"No activity for {program.expiry_days} days",
            )
            expired += entry is not None
    return expired


# --- Reads --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    points: int
    pending: int
    value: Decimal
    next_release: datetime | None
    expires_at: datetime | None
    progress: TierProgress
    referral_code: str
    program: LoyaltyProgram

    @property
    def referral_link(self) -> str:
        return referral_link(self.referral_code)


def summary(user: User | None, now: datetime | None = None) -> Summary:
    """The customer's balance, pending points and when they arrive, expiry, tier and progress to the next one."""
    user = _require_customer(user)
    now = _now(now)
    program = get_program()
    account = account_for(user, now)
    pending = _still_pending(PointsEntry.objects.filter(user=user, kind=EntryKind.EARNED, pending__gt=0))
    next_release = (
        pending.filter(available_at__isnull=False)
        .order_by("available_at")
        .values_list("available_at", flat=True)
        .first()
    )
    return Summary(
        points=account.points,
        pending=account.pending,
        value=(account.points * program.point_value).quantize(CENT),
        next_release=next_release,
        expires_at=expiry_date(account, program),
        progress=tier_progress(account, program, now),
        referral_code=account.referral_code,
        program=program,
    )


def history(user: User | None, page: int | str | None = 1, page_size: int = HISTORY_PAGE_SIZE) -> Page[PointsEntry]:
    """The customer's ledger, newest first, a page at a time (two queries whatever the page size)."""
    user = _require_customer(user)
    entries = (
        PointsEntry.objects.filter(user=user).select_related("reward", "discount_code").order_by("-created_at", "-pk")
    )
    return Paginator(entries, min(max(page_size, 1), MAX_HISTORY_PAGE_SIZE)).get_page(page)


@dataclass(frozen=True)
class Estimate:
    low: int
    high: int
    tier: Tier | None  # whose multiplier is included


def _customer_account(user: User | None) -> LoyaltyPoints | None:
    """The signed-in customer's balance row, if they have one: pages only read it, never create it."""
    if user is None or not user.is_authenticated:
        return None
    return LoyaltyPoints.objects.filter(user=user).first()


def _estimate(options: list[list[EarnLine]], extra: Decimal, tier: Tier | None, now: datetime) -> Estimate | None:
    """The lowest and highest points over alternative baskets (a product's variants), with the tier's multiplier."""
    rules = open_rules(now)
    spend_rules = rules.get(RuleKind.SPEND, [])
    if not spend_rules or not options:
        return None
    factor = tier.earn_multiplier if tier is not None else Decimal(1)
    multipliers = _multipliers(rules)
    totals = [
        sum(
            spend_points(
                lines,
                per_unit=rule.points,
                extra=extra,
                multipliers=multipliers,
                tier_multiplier=factor,
                cap=rule.max_points_per_award,
            )
            for rule in spend_rules
        )
        for lines in options
    ]
    return Estimate(low=min(totals), high=max(totals), tier=tier)


def estimate_product(product_id: int, user: User | None, now: datetime | None = None) -> Estimate | None:
    """Points for buying one unit of the product, over its variants' prices; None when nothing would be earned."""
    now = _now(now)
    if not get_program().is_active:
        return None
    product = Product.objects.filter(pk=product_id, is_active=True).select_related("category").first()
    if product is None:
        raise NotFound("No such product.")
    prices = Variant.objects.filter(product=product, is_active=True).values_list("price", flat=True)
    path = product.category.path if product.category is not None else ""
    options = [[EarnLine(product_id=product.pk, category_path=path, amount=price)] for price in set(prices)]
    return _estimate(options, Decimal(0), _tier_of(_customer_account(user)), now)


def _category_paths(product_ids: set[int], now: datetime) -> dict[int, str]:
    """The products' category paths, looked up only when a category multiplier could apply."""
    if not any(rule.category_id for rule in open_rules(now).get(RuleKind.MULTIPLIER, [])):
        return {}
    return dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "category__path"))


def estimate_basket(
    lines: Sequence[tuple[int, Decimal]],
    *,
    discount: Decimal,
    shipping: Decimal,
    tax: Decimal,
    tier: Tier | None,
    now: datetime | None = None,
) -> int:
    """Points an order of these (product id, line total) lines would earn once paid, as checkout shows them."""
    now = _now(now)
    program = get_program()
    if not program.is_active or not lines:
        return 0
    paths = _category_paths({product_id for product_id, _ in lines}, now)
    shares = paid_shares([total for _, total in lines], discount)
    earn_lines = [
        EarnLine(product_id=product_id, category_path=paths.get(product_id) or "", amount=share)
        for (product_id, _), share in zip(lines, shares, strict=True)
    ]
    estimate = _estimate([earn_lines], _extra(program, shipping, tax), tier, now)
    return estimate.low if estimate is not None else 0


@dataclass(frozen=True)
class CheckoutOffer:
    points: int
    signed_in: bool
    balance: int
    codes: list[DiscountCode]
    rewards: list[RewardOption]
    free_shipping_perk: bool


def checkout_offer(
    user: User | None,
    lines: Sequence[tuple[int, Decimal]],
    *,
    discount: Decimal,
    shipping: Decimal,
    tax: Decimal,
    now: datetime | None = None,
) -> CheckoutOffer | None:
    """What checkout shows: the points this basket earns, and the customer's codes and rewards to apply in a click.

    Checkout renders this on every change of the form, so it costs at most two queries (the balance and the codes).
    """
    now = _now(now)
    if not get_program().is_active:
        return None
    account = _customer_account(user)
    tier = _tier_of(account)
    points = estimate_basket(lines, discount=discount, shipping=shipping, tax=tax, tier=tier, now=now)
    if user is None or not user.is_authenticated:
        return CheckoutOffer(points, False, 0, [], [], False)
    return CheckoutOffer(
        points=points,
        signed_in=True,
        balance=account.points if account is not None else 0,
        codes=reward_codes(user, now) if account is not None else [],
        rewards=[option for option in _options_for(account, now) if option.can_redeem],
        free_shipping_perk=tier is not None and tier.free_shipping,
    )


def earning_rules_shown(now: datetime | None = None) -> list[EarningRule]:
    """The rules open now, as the "how to earn" list shows them."""
    if not get_program().is_active:
        return []
    rules = open_rules(now)
    return [rule for kind in RuleKind.values for rule in rules.get(kind, [])]


@dataclass(frozen=True)
class TierLiability:
    tier: str
    customers: int
    points: int
    pending: int


@dataclass(frozen=True)
class Liability:
    points: int
    pending: int
    value: Decimal
    pending_value: Decimal
    customers: int
    expiring_soon: int
    by_tier: list[TierLiability]
    point_value: Decimal


def liability_report(now: datetime | None = None, expiring_within_days: int = 30) -> Liability:
    """Points outstanding and what they are worth: available, pending, by tier, and expiring soon."""
    now = _now(now)
    program = get_program()
    accounts = LoyaltyPoints.objects.filter(Q(points__gt=0) | Q(pending__gt=0))
    totals = accounts.aggregate(
        points=Coalesce(Sum("points"), 0), pending=Coalesce(Sum("pending"), 0), customers=Count("pk")
    )
    expiring = 0
    if program.expiry_days:
        horizon = now + timedelta(days=expiring_within_days) - timedelta(days=program.expiry_days)
        expiring = accounts.filter(last_activity_at__lte=horizon).aggregate(total=Coalesce(Sum("points"), 0))["total"]
    by_tier = [
        TierLiability(
            tier=row["tier__name"] or "No tier",
            customers=row["customers"],
            points=row["points"],
            pending=row["pending"],
        )
        for row in accounts.values("tier__name")
        .annotate(customers=Count("pk"), points=Coalesce(Sum("points"), 0), pending=Coalesce(Sum("pending"), 0))
        .order_by("tier__threshold")
    ]
    return Liability(
        points=totals["points"],
        pending=totals["pending"],
        value=(totals["points"] * program.point_value).quantize(CENT),
        pending_value=(totals["pending"] * program.point_value).quantize(CENT),
        customers=totals["customers"],
        expiring_soon=expiring,
        by_tier=by_tier,
        point_value=program.point_value,
    )


# --- Setting up ---------------------------------------------------------------------------------------------


def install_starter_program() -> None:
    """A program to start from (three tiers, the common rules, three rewards), for a store that has none yet."""
    if Tier.objects.exists() or EarningRule.objects.exists() or Reward.objects.exists():
        raise Conflict("The program already has tiers, rules or rewards.", code="program_exists")
    with transaction.atomic():
        Tier.objects.bulk_create(
            [
                Tier(name="Bronze", threshold=Decimal(0), description="Everyone starts here."),
                Tier(name="Silver", threshold=Decimal(500), earn_multiplier=Decimal("1.25"), early_access=True),
                Tier(
                    name="Gold",
                    threshold=Decimal(2000),
                    earn_multiplier=Decimal("1.5"),
                    free_shipping=True,
                    early_access=True,
                    priority_support=True,
                ),
            ]
        )
        EarningRule.objects.bulk_create(
            [
                EarningRule(name="Points on every purchase", kind=RuleKind.SPEND, points=1),
                EarningRule(name="Welcome bonus", kind=RuleKind.SIGNUP, points=100),
                EarningRule(name="First order bonus", kind=RuleKind.FIRST_ORDER, points=50),
                EarningRule(name="Product review", kind=RuleKind.REVIEW, points=25, max_awards_per_customer=20),
                EarningRule(name="Birthday treat", kind=RuleKind.BIRTHDAY, points=100),
                EarningRule(name="Invite a friend", kind=RuleKind.REFERRER, points=200, max_awards_per_customer=10),
                EarningRule(name="Invited by a friend", kind=RuleKind.REFERRED, points=100),
            ]
        )
        Reward.objects.bulk_create(
            [
                Reward(name="$5 off", kind=DiscountKind.FIXED, value=Decimal(5), points_cost=500, position=1),
                Reward(name="Free shipping", kind=DiscountKind.FREE_SHIPPING, points_cost=300, position=2),
                Reward(
                    name="15% off",
                    kind=DiscountKind.PERCENT,
                    value=Decimal(15),
                    points_cost=1500,
                    min_order=Decimal(50),
                    position=3,
                ),
            ]
        )
        # Bulk inserts skip the models' save, which is what refreshes the cached configuration.
        config.changed()
