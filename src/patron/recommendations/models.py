"""Trained recommendation results and the merchant's rules for serving them.

A training run writes a `ModelVersion` and its result rows (item neighbours, each user's top items, trending
products); serving reads the active version's rows and filters them through the rules. Result rows hold plain
product ids rather than foreign keys: a product deleted after training simply fails the serving filter, and
writing hundreds of thousands of rows needs no constraint checks.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class ModelVersion(models.Model):
    """One training run. Its rows are written while it is `training`, then it becomes the single active one.

    At most one row may be `training` at a time (a partial unique index), which is the lock that keeps two
    workers from training at once; `heartbeat_at` lets a run whose worker died be taken over.
    """

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=50, help_text="the model behind “Recommended for you”")
    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    is_active = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now, help_text="orders and views up to this time were used")
    heartbeat_at = models.DateTimeField(default=timezone.now)
    trained_at = models.DateTimeField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="data and result sizes, seconds per phase")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-version",)
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="recommendation_one_active_version"
            ),
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="training"), name="recommendation_one_training"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """How responses and analytics events name the model: `<model>@<version>`."""
        return f"{self.name}@{self.version}"


class NeighbourKind(models.IntegerChoices):
    SIMILAR = 1, "Similar items"
    BOUGHT_TOGETHER = 2, "Frequently bought together"


class ItemNeighbour(models.Model):
    """The `rank`-th neighbour of a product in a version (rank 0 is the closest)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    kind = models.PositiveSmallIntegerField(choices=NeighbourKind.choices)
    product_id = models.BigIntegerField()
    rank = models.PositiveSmallIntegerField()
    neighbour_id = models.BigIntegerField()
    score = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "kind", "product_id", "rank"], name="recommendation_neighbour_rank"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} -> {self.neighbour_id} ({self.get_kind_display()} #{self.rank})"


class UserRecommendation(models.Model):
    """A signed-in customer's `rank`-th recommended product, from their purchases up to the training."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    product_id = models.BigIntegerField()
    score = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "user", "rank"], name="recommendation_user_rank")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} #{self.rank}: {self.product_id}"


class TrendingItem(models.Model):
    """A product trending store-wide (no category) or in a category's subtree, from recent orders and views."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    category_id = models.BigIntegerField(null=True, blank=True)
    rank = models.PositiveSmallIntegerField()
    product_id = models.BigIntegerField()
    score = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["model_version", "category_id", "rank"], name="recommendation_trending")]

    def __str__(self) -> str:
        return f"{self.category_id or 'store'} #{self.rank}: {self.product_id}"


def _rules_changed() -> None:
    from patron.recommendations.services import forget_rules

    forget_rules()


class RecommendationSettings(models.Model):
    """The store's one row of serving settings (edited in the back-office)."""

    new_arrival_days = models.PositiveSmallIntegerField(
        default=30, help_text="products added within this many days count as new arrivals"
    )
    new_arrival_boost = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(10.0)],
        help_text="0 = off; 1 doubles a new arrival's score",
    )
    on_sale_boost = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(10.0)],
        help_text="0 = off; 1 doubles the score of a product with a variant below its compare-at price",
    )
    just_bought_days = models.PositiveSmallIntegerField(
        default=60,
        validators=[MaxValueValidator(3650)],
        help_text="what a customer bought within this many days is not recommended to them again "
        "(repeatable products and categories excepted)",
    )

    class Meta:
        verbose_name = verbose_name_plural = "recommendation settings"

    def __str__(self) -> str:
        return "Recommendation settings"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)
        _rules_changed()


class RuleKind(models.TextChoices):
    REPEATABLE = "repeatable", "Repeatable: may be recommended again after a purchase (consumables)"
    EXCLUDE = "exclude", "Excluded: never recommended"


class RecommendationRule(models.Model):
    """A merchant's rule for one product or a whole category (its sub-categories included)."""

    kind = models.CharField(max_length=12, choices=RuleKind.choices)
    product = models.ForeignKey("catalog.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey("catalog.Category", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("kind", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(product__isnull=False, category__isnull=True)
                | models.Q(product__isnull=True, category__isnull=False),
                name="recommendation_rule_one_target",
            )
        ]

    def __str__(self) -> str:
        target = f"product {self.product_id}" if self.product_id else f"category {self.category_id}"
        return f"{self.get_kind_display().split(':')[0]}: {target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        _rules_changed()

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        _rules_changed()
        return deleted
