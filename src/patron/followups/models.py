"""Post-purchase follow-up: the flows a merchant configures, every message they send (the log), unsubscribes,
and the survey answers (NPS and CSAT) customers give."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class FlowKey(models.TextChoices):
    REVIEW_REQUEST = "review_request", "Review request after delivery"
    NPS = "nps", "NPS survey after the first order"
    CSAT = "csat", "CSAT survey after a support conversation"
    THANK_YOU = "thank_you", "Thank-you and how-to-use email after delivery"
    ABANDONED_CART = "abandoned_cart", "Abandoned cart reminder"


class Flow(models.Model):
    """One follow-up flow as the merchant set it up. Texts may use {{ name }}, {{ store_name }} and, for orders,
    {{ order_number }}; the rest of each email (products, links, the unsubscribe footer) is added by the store."""

    key = models.CharField(max_length=30, choices=FlowKey.choices, unique=True, editable=False)
    enabled = models.BooleanField(default=True)
    delay_hours = models.PositiveIntegerField(
        help_text="Hours after delivery (review request, thank-you, NPS), after the conversation was resolved "
        "(CSAT), or of cart inactivity (abandoned cart)."
    )
    reminder_after_hours = models.PositiveIntegerField(
        default=0, help_text="One reminder this many hours after the first email if nothing came of it; 0: none."
    )
    subject = models.CharField(max_length=200)
    intro = models.TextField(help_text="The opening paragraph.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("key",)

    def __str__(self) -> str:
        return self.get_key_display()


class MessageStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Not sent"
    FAILED = "failed", "Failed"


class Message(models.Model):
    """A follow-up message, from the moment it is scheduled: the log of what went out, when, and what came of it.

    `subject_key` names what the message is about ("order:12", "cart:5:<idle since>", "conversation:3"); the
    unique constraint on (flow, subject_key, step) means no customer gets the same flow twice for the same thing.
    """

    flow = models.CharField(max_length=30, choices=FlowKey.choices)
    step = models.PositiveSmallIntegerField(default=0, help_text="0: the first email, 1: the reminder")
    subject_key = models.CharField(max_length=100)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="followup_messages"
    )
    cart = models.ForeignKey("cart.Cart", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="followup_messages"
    )
    email = models.EmailField()
    channel = models.CharField(max_length=20, default="email")
    template = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=MessageStatus.choices, default=MessageStatus.SCHEDULED)
    due_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-due_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("flow", "subject_key", "step"), name="followup_once_per_subject_and_step")
        ]
        indexes = [
            models.Index(fields=("status", "due_at"), name="followup_due"),
            models.Index(fields=("flow", "email", "created_at"), name="followup_flow_email"),
        ]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} to {self.email} ({self.subject_key}, step {self.step})"


class Unsubscribe(models.Model):
    """An address that asked for no more follow-up emails (one click in any of them)."""

    email = models.EmailField(unique=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.email


class SurveyKind(models.TextChoices):
    NPS = "nps", "NPS (0-10)"
    CSAT = "csat", "CSAT (1-5)"


class FollowUp(models.TextChoices):
    NONE = "", "No need"
    NEEDED = "needed", "Needs a follow-up"
    DONE = "done", "Followed up"


class SurveyResponse(models.Model):
    """A customer's answer to an NPS or CSAT survey, kept with the customer, order or conversation it is about."""

    kind = models.CharField(max_length=10, choices=SurveyKind.choices)
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(0), MaxValueValidator(10)])
    comment = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_responses"
    )
    email = models.EmailField()
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_responses"
    )
    conversation_id = models.BigIntegerField(null=True, blank=True, help_text="The support conversation (CSAT)")
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_response"
    )
    follow_up = models.CharField(max_length=10, choices=FollowUp.choices, default=FollowUp.NONE, blank=True)
    follow_up_note = models.TextField(blank=True)
    followed_up_at = models.DateTimeField(null=True, blank=True)
    followed_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="nps", score__lte=10) | models.Q(kind="csat", score__gte=1, score__lte=5),
                name="survey_score_in_range",
            )
        ]
        indexes = [models.Index(fields=("kind", "created_at"), name="survey_kind_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.score} from {self.email}"
