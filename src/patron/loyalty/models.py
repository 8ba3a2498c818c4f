"""The loyalty program: its settings, earning rules, tiers and rewards, and each customer's points ledger.

Every change of a customer's points is a `PointsEntry`; `LoyaltyPoints` holds the balance derived from those
entries (updated in the same transaction, under the row's lock) together with the customer's tier and referral
code. Entries move points between two buckets: `pending` (from orders still inside their return window) and
`points` (available to spend).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from patron.pricing.models import VALUELESS_KINDS, DiscountKind

PROGRAM_ID = 1


def _config_changed() -> None:
    from patron.loyalty import config

    config.changed()


class ConfigurationModel(models.Model):
    """A part of the program's configuration: saving or deleting it refreshes the cached configuration."""

    class Meta:
        abstract = True

    def save(self, *args: object, **kwargs: object) -> None:
        super().save(*args, **kwargs)  # type: ignore[arg-type]
        _config_changed()

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)  # type: ignore[arg-type]
        _config_changed()
        return deleted


class TierBasis(models.TextChoices):
    POINTS = "points", "Points earned within the period"
    SPEND = "spend", "Amount spent within the period"


class LoyaltyProgram(ConfigurationModel):
    """The program's settings: a single row, edited in the back-office."""

    is_active = models.BooleanField(default=True, help_text="Off: nobody earns or redeems; balances are kept.")
    name = models.CharField(max_length=60, default="Rewards")
    point_value = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What one point is worth in the store currency, for the liability report.",
    )
    earn_on_shipping = models.BooleanField(default=False, help_text="Shipping charges earn points too.")
    earn_on_tax = models.BooleanField(default=False, help_text="Tax earns points too.")
    return_window_days = models.PositiveIntegerField(
        default=30, help_text="Points of an order stay pending this many days after delivery, then become available."
    )
    undelivered_release_days = models.PositiveIntegerField(
        default=60, help_text="Points of an order never marked delivered become available this long after payment."
    )
    expiry_days = models.PositiveIntegerField(
        default=365, help_text="Points expire after this many days without earning or redeeming. 0: never."
    )
    expiry_warning_days = models.PositiveIntegerField(
        default=14, help_text="Customers are emailed this many days before their points expire."
    )
    tier_basis = models.CharField(max_length=10, choices=TierBasis.choices, default=TierBasis.POINTS)
    tier_period_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(1)],
        help_text="The rolling period tiers are reached in, and how long a reached tier is kept.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "program settings"
        verbose_name_plural = "program settings"
        constraints = [models.CheckConstraint(condition=Q(pk=PROGRAM_ID), name="loyalty_program_single_row")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = PROGRAM_ID
        super().save(*args, **kwargs)


class RuleKind(models.TextChoices):
    SPEND = "spend", "Points per currency unit spent"
    SIGNUP = "signup", "Sign-up bonus"
    FIRST_ORDER = "first_order", "First order bonus"
    REVIEW = "review", "Product review (once per product)"
    BIRTHDAY = "birthday", "Birthday"
    REFERRER = "referrer", "Referral: the customer who invited"
    REFERRED = "referred", "Referral: the new customer"
    MULTIPLIER = "multiplier", "Multiplier (product, category or campaign)"


class EarningRule(ConfigurationModel):
    """One way to earn points, switched on and off by the merchant, optionally within dates and limits."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    is_active = models.BooleanField(default=True)
    points = models.PositiveIntegerField(
        default=0, help_text="Points awarded; for spending, points per currency unit. Unused by multipliers."
    )
    multiplier = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="For multipliers: e.g. 2 doubles the points of matching products.",
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Multiplier for this product only.",
    )
    category = models.ForeignKey(
        "catalog.Category",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Multiplier for this category and its subcategories. With neither: every product (a campaign).",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_awards_per_customer = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How often one customer can earn from this rule (for the inviting customer: referrals "
        "rewarded). Empty: unlimited.",
    )
    max_points_per_award = models.PositiveIntegerField(
        null=True, blank=True, help_text="A cap on the points of one award (e.g. of one order). Empty: no cap."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("kind", "id")
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="loyalty_rule_multiplier_positive"),
            models.CheckConstraint(
                condition=Q(kind=RuleKind.MULTIPLIER) | (Q(product__isnull=True) & Q(category__isnull=True)),
                name="loyalty_rule_target_only_for_multipliers",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="loyalty_rule_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind != RuleKind.MULTIPLIER and (self.product_id is not None or self.category_id is not None):
            raise ValidationError({"product": "Only a multiplier applies to a product or a category."})
        if self.kind == RuleKind.MULTIPLIER and self.product_id is not None and self.category_id is not None:
            raise ValidationError({"category": "Choose a product or a category, not both."})
        if self.kind != RuleKind.MULTIPLIER and self.points <= 0:
            raise ValidationError({"points": "Award at least one point."})
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The rule must end after it starts."})


class Tier(ConfigurationModel):
    """A level customers reach by points (or spend) within the program's rolling period, with its perks."""

    name = models.CharField(max_length=50, unique=True)
    threshold = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        unique=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Points (or amount spent, see the program settings) within the period to reach this tier.",
    )
    earn_multiplier = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("1.00"), validators=[MinValueValidator(Decimal("1"))]
    )
    free_shipping = models.BooleanField(default=False, help_text="A free shipping code at checkout, in one click.")
    early_access = models.BooleanField(default=False, help_text="May redeem rewards before their early access ends.")
    priority_support = models.BooleanField(default=False)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("threshold",)
        constraints = [
            models.CheckConstraint(condition=Q(earn_multiplier__gte=1), name="loyalty_tier_multiplier_at_least_1"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def perks(self) -> list[str]:
        named = (
            (self.free_shipping, "Free shipping"),
            (self.early_access, "Early access to rewards"),
            (self.priority_support, "Priority support"),
        )
        return [label for held, label in named if held]


class Reward(ConfigurationModel):
    """Something customers buy with points: redeeming it issues a single-use discount code for them."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=DiscountKind.choices, default=DiscountKind.FIXED)
    value = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="An amount, or a percentage; unused by free shipping and free product rewards.",
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="For a free product reward: the product given.",
    )
    points_cost = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    min_order = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="The code works on orders of at least this subtotal.",
    )
    valid_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)], help_text="How long the code works once redeemed."
    )
    early_access_until = models.DateTimeField(
        null=True, blank=True, help_text="Until then only customers whose tier has early access may redeem it."
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("position", "points_cost", "id")
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="loyalty_reward_costs_points"),
            models.CheckConstraint(
                condition=Q(value__gt=0) | Q(kind__in=VALUELESS_KINDS), name="loyalty_reward_value_positive"
            ),
            models.CheckConstraint(
                condition=Q(kind=DiscountKind.FREE_PRODUCT, product__isnull=False)
                | (~Q(kind=DiscountKind.FREE_PRODUCT) & Q(product__isnull=True)),
                name="loyalty_reward_product_iff_free_product",
            ),
            models.CheckConstraint(
                condition=~Q(kind=DiscountKind.PERCENT) | Q(value__lte=100), name="loyalty_reward_percent_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == DiscountKind.FREE_PRODUCT and self.product_id is None:
            raise ValidationError({"product": "Choose the product this reward gives."})
        if self.kind != DiscountKind.FREE_PRODUCT and self.product_id is not None:
            raise ValidationError({"product": "Only a free product reward names a product."})
        if self.kind not in VALUELESS_KINDS and (self.value is None or self.value <= 0):
            raise ValidationError({"value": "An amount or a percentage above 0."})
        if self.kind == DiscountKind.PERCENT and self.value > 100:
            raise ValidationError({"value": "A percentage is at most 100."})


class LoyaltyPoints(models.Model):
    """A customer's standing: the balance derived from their ledger, their tier and their referral code."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="loyalty")
    points = models.IntegerField(default=0, help_text="Available to spend: the sum of the ledger's points.")
    pending = models.IntegerField(default=0, help_text="Waiting for the return window: the ledger's pending sum.")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    tier_until = models.DateTimeField(null=True, blank=True, help_text="The tier is kept at least until then.")
    referral_code = models.CharField(max_length=20, unique=True)
    last_activity_at = models.DateTimeField(default=timezone.now, help_text="Last time points were earned or spent.")
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "customer points"
        verbose_name_plural = "customer points"
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=0), name="loyalty_points_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="loyalty_pending_not_negative"),
        ]
        indexes = [models.Index(fields=("last_activity_at",), name="loyalty_points_activity")]

    def __str__(self) -> str:
        return f"{self.user} · {self.points} points"


class EntryKind(models.TextChoices):
    EARNED = "earned", "Earned"
    RELEASED = "released", "Now available"
    REDEEMED = "redeemed", "Redeemed"
    EXPIRED = "expired", "Expired"
    ADJUSTED = "adjusted", "Adjusted by staff"
    REVERSED = "reversed", "Reversed"


class PointsEntry(models.Model):
    """One change of a customer's points, never edited afterwards (only `available_at` is rescheduled).

    `points` changes the available balance and `pending` the pending one: an order earns pending points, a
    release moves them (+points, -pending), a reversal takes them back from whichever bucket still holds them.
    `key` makes an award idempotent: a retried task finds its key taken and adds nothing.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="points_entries")
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    points = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)
    description = models.CharField(max_length=200, blank=True)
    rule = models.ForeignKey(EarningRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries")
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="points_entries"
    )
    reward = models.ForeignKey(Reward, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries")
    # RESTRICT (here and on `source`): an entry's code or earning is never deleted on its own, only together with
    # the customer's whole ledger.
    discount_code = models.OneToOneField(
        "pricing.DiscountCode", null=True, blank=True, on_delete=models.RESTRICT, related_name="points_entry"
    )
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="followups",
        help_text="The earning that a release or a reversal applies to.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shortfall = models.PositiveIntegerField(
        default=0, help_text="Points a reversal could not take back because they had been spent."
    )
    key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    available_at = models.DateTimeField(null=True, blank=True, help_text="When pending points become available.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "points entries"
        indexes = [
            models.Index(fields=("user", "-created_at", "-id"), name="loyalty_entry_user_time"),
            models.Index(fields=("kind", "available_at"), name="loyalty_entry_kind_available"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d} / pending {self.pending:+d}"


class TierChange(models.Model):
    """The record of a customer's tier moving up or down."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    qualifying = models.DecimalField(max_digits=14, decimal_places=2, help_text="Points or spend in the period.")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"{self.user}: {self.from_tier or '-'} -> {self.to_tier or '-'}"


class ReferralStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the first paid order"
    REWARDED = "rewarded", "Rewarded"
    REFUSED = "refused", "Refused"


class Referral(models.Model):
    """A new customer who signed up with someone's referral code; rewarded after their first paid order."""

    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referrals")
    referred = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="referred_by")
    status = models.CharField(max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.PENDING)
    reason = models.CharField(max_length=200, blank=True, help_text="Why a referral was refused.")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.referrer} invited {self.referred}"
