"""Product reviews with photos, helpful votes and reports; customer questions and answers; rating summaries.

`Review.verified` is derived from the customer's delivered orders by `reviews.services` and is never editable
by hand; `RatingSummary` is derived from the published reviews and rebuilt whenever one of them changes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.images import get_image_dimensions
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

SETTINGS_ID = 1


class ReviewSettings(models.Model):
    """The merchant's moderation choices; one row."""

    auto_publish = models.BooleanField(
        default=True,
        help_text="Publish new reviews at once. Reviews the spam and abuse check flags always wait for approval.",
    )
    reviews_are_rewarded = models.BooleanField(
        default=False,
        help_text="Customers get something (e.g. loyalty points) for reviewing: new reviews are labelled as "
        "incentivized on the product page.",
    )
    report_threshold = models.PositiveIntegerField(
        default=3, help_text="Reports from different customers that send a published review back for approval."
    )

    class Meta:
        verbose_name = verbose_name_plural = "review settings"

    def __str__(self) -> str:
        return "Review settings"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = SETTINGS_ID
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> ReviewSettings:
        return cls.objects.get_or_create(pk=SETTINGS_ID)[0]


class Status(models.TextChoices):
    PENDING = "pending", "Awaiting approval"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"


class Review(models.Model):
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="reviews")
    variant = models.ForeignKey(
        "catalog.Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    # The delivered order that makes the review verified, if any.
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    title = models.CharField(max_length=150, blank=True)
    comment = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, editable=False)
    verified = models.BooleanField("verified buyer", default=False, editable=False)
    incentivized = models.BooleanField(
        default=False, help_text="The customer got something for reviewing; shown next to the review."
    )
    moderation_flags = models.JSONField(default=list, blank=True, editable=False)
    moderation_note = models.CharField(max_length=500, blank=True, editable=False)
    reply = models.TextField("public reply", blank=True, editable=False)
    replied_at = models.DateTimeField(null=True, blank=True, editable=False)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    helpful_count = models.PositiveIntegerField(default=0, editable=False)
    report_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("user", "product"), name="review_once_per_customer_and_product"),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
        ]
        indexes = [
            models.Index(fields=("product", "status", "created_at"), name="review_product_newest"),
            models.Index(fields=("status", "created_at"), name="review_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ by {self.user_id} on {self.product_id}"

    @property
    def is_published(self) -> bool:
        return self.status == Status.PUBLISHED


class ReviewPhoto(models.Model):
    """A customer's photo, re-encoded as JPEG without metadata before it is stored."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(upload_to="reviews/%Y/%m/", width_field="width", height_field="height")
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return f"Photo {self.position + 1} of review {self.review_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # S3 closes the upload once sent; read the size back from the stored file (as product images do).
        if self.image and (self.width is None or self.height is None):
            with self.image.storage.open(str(self.image.name)) as stored:
                self.width, self.height = get_image_dimensions(stored)
        super().save(*args, **kwargs)


class HelpfulVote(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="helpful_votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("review", "user"), name="helpful_vote_once_per_person")]

    def __str__(self) -> str:
        return f"{self.user_id} found review {self.review_id} helpful"


class ReportReason(models.TextChoices):
    SPAM = "spam", "Spam or advertising"
    OFFENSIVE = "offensive", "Offensive or abusive"
    OFF_TOPIC = "off_topic", "Not about the product"
    PRIVATE = "private", "Shares private information"
    OTHER = "other", "Something else"


class ReviewReport(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="reports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=ReportReason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("review", "user"), name="review_report_once_per_person")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} on review {self.review_id}"


class RatingSummary(models.Model):
    """The published reviews of a product in numbers, so cards and pages need one small read."""

    product = models.OneToOneField(
        "catalog.Product", primary_key=True, on_delete=models.CASCADE, related_name="rating_summary"
    )
    review_count = models.PositiveIntegerField(default=0)
    average = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.00"))
    stars_1 = models.PositiveIntegerField(default=0)
    stars_2 = models.PositiveIntegerField(default=0)
    stars_3 = models.PositiveIntegerField(default=0)
    stars_4 = models.PositiveIntegerField(default=0)
    stars_5 = models.PositiveIntegerField(default=0)
    with_photos = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "rating summaries"

    def __str__(self) -> str:
        return f"{self.average} from {self.review_count} reviews of {self.product_id}"

    def distribution(self) -> list[tuple[int, int]]:
        """(stars, count) from five stars down."""
        return [(stars, int(getattr(self, f"stars_{stars}"))) for stars in range(5, 0, -1)]


class Question(models.Model):
    """A shopper's question about a product; shown once staff or a verified buyer has answered it."""

    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="questions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="questions")
    body = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, editable=False)
    moderation_flags = models.JSONField(default=list, blank=True, editable=False)
    answer_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("product", "status", "answer_count"), name="question_product_answered")]

    def __str__(self) -> str:
        return self.body[:80]


class Answer(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    body = models.TextField()
    by_staff = models.BooleanField(default=False, editable=False)
    by_verified_buyer = models.BooleanField(default=False, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, editable=False)
    moderation_flags = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.body[:80]
