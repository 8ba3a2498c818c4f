"""Post-purchase follow-up: scheduling flows from order, cart and support events, sending what is due, and
collecting what customers answer.

- Scheduling writes a `Message` row due at a time computed from the event (delivery time + the flow's delay,
  so a late delivery shifts everything after it). The unique (flow, subject, step) row makes scheduling
  idempotent: a replayed event, a retried task or two workers schedule one message.
- `send_due` (every five minutes, see tasks.py) claims each due row with a conditional update, checks at send
  time whether it should still go out (flow on, not unsubscribed, the customer's channels and consent, nothing
  already done, e.g. the product reviewed or the cart bought), renders it and sends it. Every function takes
  `now`, so tests and back-fills control the clock.
- Review requests and abandoned carts go to customers with an account; NPS and CSAT surveys also to guests.
  Marketing flows (thank-you with suggestions, abandoned cart) need the customer's marketing consent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from patron.accounts import services as accounts
from patron.accounts.auth import staff_required
from patron.accounts.models import Preferences, User
from patron.cart import services as carts
from patron.cart.models import Cart, CartLine
from patron.errors import DomainError, NotFound, ValidationFailed
from patron.followups import emails, links
from patron.followups.flows import MARKETING_FLOWS, get_flow
from patron.followups.models import (
    Flow,
    FlowKey,
    FollowUp,
    Message,
    MessageStatus,
    SurveyKind,
    SurveyResponse,
    Unsubscribe,
)
from patron.orders.models import Order, OrderStatus, Shipment
from patron.reviews.models import Review

logger = logging.getLogger(__name__)

# Carts idle for longer than this are not worth a reminder any more.
ABANDONED_CART_WINDOW = timedelta(days=7)
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=15)
SEND_BATCH = 200
NPS_RANGE = (0, 10)
CSAT_RANGE = (1, 5)
COMMENT_MAX_LENGTH = 2000


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


# --- Scheduling ------------------------------------------------------------------------------------------


def schedule(
    flow: Flow,
    *,
    subject_key: str,
    email: str,
    due_at: datetime,
    step: int = 0,
    order: Order | None = None,
    cart: Cart | None = None,
    user: User | None = None,
    context: dict[str, Any] | None = None,
) -> Message | None:
    """The message of `flow` about `subject_key` (and `step`): scheduled now, or the one already there.
    None when the flow is switched off."""
    if not flow.enabled:
        return None
    try:
        with transaction.atomic():
            message, _ = Message.objects.get_or_create(
                flow=flow.key,
                subject_key=subject_key,
                step=step,
                defaults={
                    "email": email.lower(),
                    "due_at": due_at,
                    "order": order,
                    "cart": cart,
                    "user": user,
                    "template": f"followups/email/{flow.key}",
                    "context": context or {},
                },
            )
    except IntegrityError:
        # Another worker scheduled it between our read and our write.
        message = Message.objects.get(flow=flow.key, subject_key=subject_key, step=step)
    return message


def delivered_at(order: Order) -> datetime | None:
    """When the order reached the customer: the carrier's last delivery scan, else when it was marked delivered."""
    scans = [at for at in Shipment.objects.filter(order=order).values_list("delivered_at", flat=True) if at]
    if scans:
        return max(scans)
    change = order.history.filter(to_status=OrderStatus.DELIVERED).order_by("-at").first()
    return change.at if change is not None else None


def _is_first_delivered_order(order: Order) -> bool:
    same_customer = Q(user_id=order.user_id) if order.user_id else Q(email__iexact=order.email)
    earlier = Order.objects.filter(same_customer, status=OrderStatus.DELIVERED, placed_at__lt=order.placed_at)
    return not earlier.exclude(pk=order.pk).exists()


def on_order_delivered(order_id: int, now: datetime | None = None) -> list[Message]:
    """Schedule what follows a delivery: the review request, the thank-you email and, after a first order, NPS."""
    order = Order.objects.select_related("user").filter(pk=order_id, status=OrderStatus.DELIVERED).first()
    if order is None:
        return []
    arrived = delivered_at(order) or _now(now)
    subject = f"order:{order.pk}"
    scheduled: list[Message | None] = []
    if order.user is not None:
        flow = get_flow(FlowKey.REVIEW_REQUEST)
        due = arrived + timedelta(hours=flow.delay_hours)
        scheduled.append(
            schedule(flow, subject_key=subject, email=order.email, due_at=due, order=order, user=order.user)
        )
    flow = get_flow(FlowKey.THANK_YOU)
    due = arrived + timedelta(hours=flow.delay_hours)
    scheduled.append(schedule(flow, subject_key=subject, email=order.email, due_at=due, order=order, user=order.user))
    if _is_first_delivered_order(order):
        flow = get_flow(FlowKey.NPS)
        due = arrived + timedelta(hours=flow.delay_hours)
        scheduled.append(
            schedule(flow, subject_key=subject, email=order.email, due_at=due, order=order, user=order.user)
        )
    return [message for message in scheduled if message is not None]


def on_conversation_resolved(conversation_id: int, now: datetime | None = None) -> Message | None:
    """A support conversation was resolved: ask the customer how satisfied they are (CSAT)."""
    from patron.support.models import Conversation

    conversation = Conversation.objects.select_related("contact", "contact__user").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    contact = conversation.contact
    user = contact.user
    email = (user.email if user is not None else "") or contact.email
    if not email:
        return None
    flow = get_flow(FlowKey.CSAT)
    return schedule(
        flow,
        subject_key=f"conversation:{conversation.pk}",
        email=email,
        due_at=_now(now) + timedelta(hours=flow.delay_hours),
        order=conversation.order,
        user=user,
        context={"conversation_id": conversation.pk, "name": contact.name},
    )


def schedule_abandoned_carts(now: datetime | None = None) -> int:
    """Carts of customers idle for the flow's delay, with items, not bought since: schedule one reminder each.

    The subject names the cart and the moment it went idle, so the same idle cart is reminded once, and a cart
    changed and left again may be reminded again (at most once per cool-down per customer)."""
    now = _now(now)
    flow = get_flow(FlowKey.ABANDONED_CART)
    if not flow.enabled:
        return 0
    idle_since = now - timedelta(hours=flow.delay_hours)
    cooldown = now - timedelta(days=settings.FOLLOWUPS_CART_REMINDER_COOLDOWN_DAYS)
    bought_since = Order.objects.filter(user_id=OuterRef("user_id"), placed_at__gte=OuterRef("updated_at"))
    reminded = Message.objects.filter(
        flow=FlowKey.ABANDONED_CART, user_id=OuterRef("user_id"), created_at__gte=cooldown
    )
    candidates = (
        Cart.objects.filter(
            user__isnull=False,
            user__is_active=True,
            updated_at__lte=idle_since,
            updated_at__gte=idle_since - ABANDONED_CART_WINDOW,
        )
        .filter(Exists(CartLine.objects.filter(cart_id=OuterRef("pk"))))
        .exclude(Exists(bought_since))
        .exclude(Exists(reminded))
        .select_related("user")
    )
    count = 0
    for cart in candidates:
        assert cart.user is not None
        lines = list(cart.lines.values_list("variant_id", "quantity"))
        stamp = int(cart.updated_at.timestamp())
        message = schedule(
            flow,
            subject_key=f"cart:{cart.pk}:{stamp}",
            email=cart.user.email,
            due_at=now,
            cart=cart,
            user=cart.user,
            context={"lines": [list(line) for line in lines], "idle_since": cart.updated_at.isoformat()},
        )
        count += message is not None
    return count


# --- Sending ---------------------------------------------------------------------------------------------


def is_unsubscribed(email: str, preferences: Preferences | None = None) -> bool:
    """Whether the address unsubscribed, unless its customer gave marketing consent again afterwards (on their
    preferences page), which counts as subscribing again."""
    entry = Unsubscribe.objects.filter(email=email.lower()).first()
    if entry is None:
        return False
    consented = preferences.marketing_consent_at if preferences is not None and preferences.marketing_consent else None
    return consented is None or consented < entry.created_at


def _preferences(message: Message) -> Preferences | None:
    if message.user_id is None:
        return None
    return Preferences.objects.filter(user_id=message.user_id).first()


def _unreviewed_products(message: Message) -> list[int]:
    assert message.order is not None and message.user_id is not None
    bought = list(dict.fromkeys(message.order.lines.order_by("id").values_list("product_id", flat=True)))
    reviewed = set(
        Review.objects.filter(user_id=message.user_id, product_id__in=bought).values_list("product_id", flat=True)
    )
    return [product_id for product_id in bought if product_id not in reviewed]


def _flow_reason(message: Message) -> str:
    """Why this flow's message no longer makes sense, or ""."""
    if message.flow in (FlowKey.REVIEW_REQUEST, FlowKey.THANK_YOU, FlowKey.NPS) and message.order_id:
        order = message.order
        if order is None or order.status != OrderStatus.DELIVERED:
            return "the order is no longer delivered (returned or refunded)"
    if message.flow == FlowKey.REVIEW_REQUEST:
        if message.user_id is None or message.order is None:
            return "no customer account to review with"
        if not _unreviewed_products(message):
            return "every product is already reviewed"
    if message.flow in (FlowKey.NPS, FlowKey.CSAT) and _answered(message):
        return "the survey is already answered"
    if message.flow == FlowKey.ABANDONED_CART:
        return _cart_reason(message)
    return ""


def _answered(message: Message) -> bool:
    first = Message.objects.filter(flow=message.flow, subject_key=message.subject_key, step=0)
    return SurveyResponse.objects.filter(message__in=first).exists()


def _cart_reason(message: Message) -> str:
    cart = message.cart
    if cart is None or message.user_id is None or not cart.lines.exists():
        return "the cart is empty"
    idle_since = message.context.get("idle_since")
    if idle_since and cart.updated_at.isoformat() != idle_since:
        return "the cart changed since"
    if Order.objects.filter(user_id=message.user_id, placed_at__gte=cart.updated_at).exists():
        return "the customer ordered since"
    return ""


def blocked_reason(message: Message, flow: Flow) -> str:
    """Why the message must not go out now, or "" to send it."""
    if not flow.enabled:
        return "the flow is switched off"
    if message.user_id is not None and (message.user is None or not message.user.is_active):
        return "the account is closed"
    preferences = _preferences(message)
    if is_unsubscribed(message.email, preferences):
        return "the customer unsubscribed"
    if preferences is not None and preferences.channels and message.channel not in preferences.channels:
        return "the customer does not want emails"
    if message.flow in MARKETING_FLOWS and not (preferences is not None and preferences.marketing_consent):
        return "no marketing consent"
    return _flow_reason(message)


def _claim(message_id: int) -> Message | None:
    claimed = Message.objects.filter(pk=message_id, status=MessageStatus.SCHEDULED).update(
        status=MessageStatus.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return Message.objects.select_related("order", "cart", "user").get(pk=message_id)


def _finish(message: Message, status: str, **fields: Any) -> None:
    Message.objects.filter(pk=message.pk).update(status=status, **fields)
    message.status = status
    for name, value in fields.items():
        setattr(message, name, value)


def _schedule_reminder(message: Message, flow: Flow, now: datetime) -> None:
    if message.step != 0 or not flow.reminder_after_hours or message.flow != FlowKey.REVIEW_REQUEST:
        return
    schedule(
        flow,
        subject_key=message.subject_key,
        step=1,
        email=message.email,
        due_at=now + timedelta(hours=flow.reminder_after_hours),
        order=message.order,
        user=message.user,
        context=message.context,
    )


def deliver(message: Message, now: datetime | None = None) -> str:
    """Send one claimed message, or record why not; returns its new status."""
    now = _now(now)
    flow = get_flow(message.flow)
    reason = blocked_reason(message, flow)
    if reason:
        _finish(message, MessageStatus.SKIPPED, skip_reason=reason)
        return message.status
    try:
        email = emails.build(message, flow)
        email.send()
    except Exception:
        logger.exception("follow-up message %s could not be sent", message.pk)
        if message.attempts >= MAX_ATTEMPTS:
            _finish(message, MessageStatus.FAILED, skip_reason="sending failed")
        else:
            _finish(message, MessageStatus.SCHEDULED, due_at=now + RETRY_AFTER * message.attempts)
        return message.status
    _finish(message, MessageStatus.SENT, sent_at=now, subject=str(email.subject)[:300])
    _schedule_reminder(message, flow, now)
    return message.status


@dataclass
class SendReport:
    scheduled_carts: int = 0
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0


def send_due(now: datetime | None = None, limit: int = SEND_BATCH) -> SendReport:
    """Find abandoned carts, then send every message that is due (at most `limit`). Safe on many workers."""
    now = _now(now)
    report = SendReport(scheduled_carts=schedule_abandoned_carts(now))
    due = Message.objects.filter(status=MessageStatus.SCHEDULED, due_at__lte=now).order_by("due_at", "id")
    for message_id in list(due.values_list("pk", flat=True)[:limit]):
        message = _claim(message_id)
        if message is None:
            continue
        status = deliver(message, now)
        if status == MessageStatus.SENT:
            report.sent += 1
        elif status == MessageStatus.SKIPPED:
            report.skipped += 1
        elif status == MessageStatus.SCHEDULED:
            report.retrying += 1
        else:
            report.failed += 1
    return report


# --- Tracking and unsubscribing ---------------------------------------------------------------------------


def record_open(message_id: int, now: datetime | None = None) -> None:
    Message.objects.filter(pk=message_id, opened_at__isnull=True).update(opened_at=_now(now))


def record_click(message_id: int, now: datetime | None = None) -> None:
    now = _now(now)
    Message.objects.filter(pk=message_id).update(click_count=F("click_count") + 1)
    Message.objects.filter(pk=message_id, clicked_at__isnull=True).update(clicked_at=now)
    # A click proves the email was opened even when its images were blocked.
    record_open(message_id, now)


def unsubscribe(email: str, *, message: Message | None = None) -> Unsubscribe:
    """No more follow-up emails to this address; an account with it also withdraws its marketing consent."""
    email = email.lower()
    entry, _ = Unsubscribe.objects.get_or_create(email=email, defaults={"message": message})
    for user in User.objects.filter(email__iexact=email):
        accounts.update_preferences(user, marketing_consent=False)
    Message.objects.filter(email=email, status=MessageStatus.SCHEDULED).update(
        status=MessageStatus.SKIPPED, skip_reason="the customer unsubscribed"
    )
    return entry


def resubscribe(email: str) -> None:
    """Undo an unsubscribe (the customer clicked by mistake). Marketing consent is not given back by this."""
    Unsubscribe.objects.filter(email=email.lower()).delete()


# --- Surveys ---------------------------------------------------------------------------------------------
# The web page and the API both open a survey from the emailed token and answer it through these functions.


@dataclass(frozen=True)
class Survey:
    """What a survey link asks and, once answered, the answer it holds (later answers update it)."""

    message: Message
    kind: str
    question: str
    low: int
    high: int
    low_label: str
    high_label: str
    order_number: str | None
    conversation_id: int | None
    response: SurveyResponse | None

    @property
    def answered(self) -> bool:
        return self.response is not None


def survey_kind(message: Message) -> str:
    if message.flow == FlowKey.NPS:
        return SurveyKind.NPS
    if message.flow == FlowKey.CSAT:
        return SurveyKind.CSAT
    raise NotFound("This email has no survey.")


def score_range(kind: str) -> tuple[int, int]:
    return NPS_RANGE if kind == SurveyKind.NPS else CSAT_RANGE


def survey_question(kind: str) -> str:
    if kind == SurveyKind.NPS:
        return f"How likely are you to recommend {settings.STORE_NAME} to a friend or colleague?"
    return "How satisfied are you with the help you got?"


def scale_labels(kind: str) -> tuple[str, str]:
    """What the lowest and the highest score mean."""
    if kind == SurveyKind.NPS:
        return "not at all likely", "extremely likely"
    return "very unsatisfied", "very satisfied"


def is_detractor(kind: str, score: int) -> bool:
    """NPS detractors answer 0-6; unhappy CSAT answers are 1-2."""
    return score <= 6 if kind == SurveyKind.NPS else score <= 2


def _first_message(message: Message) -> Message:
    """A reminder's answer belongs with the first message of its flow."""
    if message.step == 0:
        return message
    first = Message.objects.select_related("order").filter(flow=message.flow, subject_key=message.subject_key, step=0)
    return first.first() or message


def _survey(message: Message, response: SurveyResponse | None) -> Survey:
    kind = survey_kind(message)
    first = _first_message(message)
    low, high = score_range(kind)
    low_label, high_label = scale_labels(kind)
    conversation_id = first.context.get("conversation_id")
    return Survey(
        message=message,
        kind=kind,
        question=survey_question(kind),
        low=low,
        high=high,
        low_label=low_label,
        high_label=high_label,
        order_number=first.order.number if first.order is not None else None,
        conversation_id=int(conversation_id) if conversation_id is not None else None,
        response=response,
    )


def open_survey(token: str) -> Survey:
    """The survey behind an emailed survey link: NotFound for a forged or unknown link (or one to an email
    without a survey), `links.LinkExpired` for a genuine one older than FOLLOWUPS_LINK_MAX_AGE_DAYS."""
    data = links.load(links.SURVEY, token)
    message_id = data.get("m")
    message = (
        Message.objects.select_related("order").filter(pk=message_id).first() if isinstance(message_id, int) else None
    )
    if message is None:
        raise NotFound("This link is not valid any more.")
    survey_kind(message)
    response = SurveyResponse.objects.filter(message=_first_message(message)).first()
    return _survey(message, response)


def _checked_answer(kind: str, score: object, comment: str | None) -> tuple[int, str | None]:
    """The score and the stripped comment, or every field's problem at once."""
    low, high = score_range(kind)
    errors: dict[str, list[str]] = {}
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        errors["score"] = [f"Choose from {low} to {high}."]
    if comment is not None:
        comment = comment.strip()
        if len(comment) > COMMENT_MAX_LENGTH:
            errors["comment"] = [f"Use at most {COMMENT_MAX_LENGTH} characters."]
    if errors:
        message = "Choose a score." if "score" in errors else errors["comment"][0]
        raise ValidationFailed(message, fields=errors)
    assert isinstance(score, int)
    return score, comment


def record_survey(
    message: Message, score: int, comment: str | None = None, *, now: datetime | None = None
) -> SurveyResponse:
    """The customer's answer: one per survey, so a later click or the comment form updates it (a comment of None
    keeps the one given before). Detractors are flagged for a call, unless staff already followed up."""
    kind = survey_kind(message)
    score, comment = _checked_answer(kind, score, comment)
    now = _now(now)
    first = _first_message(message)
    with transaction.atomic():
        response, _ = SurveyResponse.objects.select_for_update().get_or_create(
            message=first,
            defaults={
                "kind": kind,
                "score": score,
                "user": first.user,
                "email": first.email,
                "order": first.order,
                "conversation_id": first.context.get("conversation_id"),
                "created_at": now,
                "updated_at": now,
            },
        )
        response.score = score
        if comment is not None:
            response.comment = comment
        if response.follow_up != FollowUp.DONE:
            response.follow_up = FollowUp.NEEDED if is_detractor(kind, score) else FollowUp.NONE
        response.updated_at = now
        response.save()
    # Answering is a click on the email, whichever way it came (the email's buttons, the page or the app).
    record_click(first.pk, now)
    return response


def answer_survey(survey: Survey, score: int, comment: str | None = None, *, now: datetime | None = None) -> Survey:
    """Record an answer to an opened survey (see `open_survey`); the survey as it stands afterwards."""
    response = record_survey(survey.message, score, comment, now=now)
    return _survey(survey.message, response)


def mark_followed_up(actor: User | None, response_ids: Iterable[int], note: str = "") -> int:
    """Staff called or wrote to these customers."""
    staff = staff_required(actor)
    return SurveyResponse.objects.filter(pk__in=list(response_ids)).update(
        follow_up=FollowUp.DONE, follow_up_note=note[:2000], followed_up_at=timezone.now(), followed_up_by=staff
    )


# --- Restoring a cart ------------------------------------------------------------------------------------


def restore_cart(message: Message, cart: Cart) -> tuple[int, int]:
    """Put the reminded items back into `cart` (the visitor's own, on any device): (restored, unavailable)."""
    if message.flow != FlowKey.ABANDONED_CART:
        raise NotFound("This email has no cart.")
    have = dict(cart.lines.values_list("variant_id", "quantity"))
    restored = unavailable = 0
    for variant_id, quantity in message.context.get("lines", []):
        missing = int(quantity) - have.get(int(variant_id), 0)
        if missing <= 0:
            restored += 1
            continue
        try:
            carts.add_item(cart, int(variant_id), missing)
        except DomainError:
            unavailable += 1
        else:
            restored += 1
    return restored, unavailable
