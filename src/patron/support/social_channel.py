"""Social messages (Facebook Messenger and Instagram Direct, through Meta's Messenger Platform) as channels of the one
inbox: customers' messages in (Meta's signed webhook), agents' replies out (the Send API, in a background task),
delivery and read events back.

Signatures. Meta signs each webhook POST with the app secret: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
raw body>`, the scheme of patron/webhooks.py. Subscribing, Meta first calls GET with `hub.mode=subscribe`,
`hub.verify_token` (what was typed in the app's settings) and `hub.challenge`, which is echoed back.

People. Meta names a sender only by a page-scoped id (PSID on Messenger, IGSID on Instagram); the contact is found by
that id (`ContactIdentity`), else created as "Messenger user …1234". No profile is fetched from the Graph API.

Threading. As for texts: the contact's conversation on that channel that is open, snoozed, or resolved less than
REOPEN_WITHIN ago; otherwise a new one, open for the team. Nothing here answers by itself.

The 24-hour window. Meta lets a Page answer freely within 24 hours of the customer's last message ("standard
messaging"); later only with a message tag, and the HUMAN_AGENT tag (7 days) needs Meta's approval of the app. So
Patron sends within 24 hours only: a later reply is kept in the thread, marked as not sent and why, and never sent.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from patron import webhooks
from patron.errors import PermissionDenied, ValidationFailed
from patron.support import outbox, services
from patron.support.models import (
    Channel,
    ContactIdentity,
    Conversation,
    Direction,
    Message,
    MessageSocial,
    SocialStatus,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
# The webhook's `object`: a Facebook Page's Messenger, or an Instagram professional account linked to it.
OBJECT_CHANNELS = {"page": Channel.MESSENGER, "instagram": Channel.INSTAGRAM}
# Meta's limit for a Messenger text message (Instagram's own is stricter: 1,000 bytes; Meta refuses longer ones).
MAX_REPLY_CHARS = 2000
REPLY_MEDIUM = "Messenger and Instagram"
MAX_BODY_CHARS = 5000
MAX_ATTACHMENTS = 10
MAX_URL_CHARS = 2000
MAX_ID_CHARS = 64
MAX_MID_CHARS = 255
MAX_EVENTS = 1000
MAX_CHALLENGE_CHARS = 200
MAX_SEND_ATTEMPTS = 5
SEND_TIMEOUT_SECONDS = 15
REOPEN_WITHIN = timedelta(days=7)
# Meta's standard messaging window: a Page may answer within 24 hours of the person's last message.
STANDARD_WINDOW = timedelta(hours=24)
NO_TEXT = "(This message has no text.)"
# Graph API error codes worth trying again: unknown/temporary errors, rate limits, and an expired or revoked Page
# token (which the operator renews; the message itself was fine). Other errors (e.g. 10 outside the window, 100
# no such person, 551 unavailable) are Meta's final answer for that message.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 190, 341, 613, 80006})

# How far along each state is: delivery and read events never move a message back (Meta promises no order).
PROGRESS = {
    SocialStatus.PENDING: 0,
    SocialStatus.FAILED: 0,
    SocialStatus.SENT: 1,
    SocialStatus.DELIVERED: 2,
    SocialStatus.READ: 3,
}


# --- Configuration and signatures --------------------------------------------------------------------------------


def our_id(channel: str) -> str:
    """The store's id on a channel (the Page's, or the Instagram account's); "" when the channel is off."""
    if channel == Channel.MESSENGER:
        return settings.META_PAGE_ID
    if channel == Channel.INSTAGRAM:
        return settings.META_INSTAGRAM_ID
    return ""


def verify_subscription(mode: str, token: str, challenge: str) -> str:
    """Meta's handshake when the webhook is subscribed: the challenge back if the verify token is ours."""
    expected = settings.META_VERIFY_TOKEN
    if not expected:
        raise PermissionDenied("Social messages are not configured.", code="social_messages_disabled")
    if mode != "subscribe" or not constant_time_compare(token or "", expected):
        raise PermissionDenied("The verify token does not match.", code="invalid_verify_token")
    if not challenge or len(challenge) > MAX_CHALLENGE_CHARS:
        raise ValidationFailed("hub.challenge is missing.", fields={"hub.challenge": ["This field is required."]})
    return challenge


def signature(body: bytes, secret: str | None = None) -> str:
    """The `X-Hub-Signature-256` value Meta sends (see patron/webhooks.py)."""
    return webhooks.sign(body, secret if secret is not None else settings.META_APP_SECRET)


def verify_signature(body: bytes, given: str) -> None:
    if not settings.META_APP_SECRET:
        raise PermissionDenied("Social messages are not configured.", code="social_messages_disabled")
    if not webhooks.is_signed(body, settings.META_APP_SECRET, given):
        raise PermissionDenied("The signature does not match.", code="invalid_signature")


# --- Receiving ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundSocial:
    mid: str
    channel: str
    sender_id: str
    recipient_id: str
    text: str
    attachments: list[dict[str, str]]
    timestamp: datetime


@dataclass(frozen=True)
class WebhookResult:
    """How many events of one delivery were stored, already known, moved a reply's state, changed nothing, or were
    ignored (echoes, events for others, kinds the inbox does not show)."""

    stored: int = 0
    duplicates: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0


def _id(value: Any) -> str:
    """A page-scoped id from `{"id": "..."}`; "" when missing or not one."""
    found = value.get("id") if isinstance(value, dict) else None
    if isinstance(found, int) and not isinstance(found, bool):
        found = str(found)
    return found if isinstance(found, str) and 0 < len(found) <= MAX_ID_CHARS and found.isalnum() else ""


def _moment(milliseconds: Any, now: datetime) -> datetime | None:
    """Meta's times are milliseconds since the epoch; one in the future (clock skew) counts as now."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    try:
        return min(datetime.fromtimestamp(milliseconds / 1000, UTC), now)
    except (OverflowError, OSError, ValueError):
        return None


def _attachments(message: dict[str, Any]) -> list[dict[str, str]]:
    """Attachments as links (Meta keeps the files): their type, and the address when it is a web address."""
    found = message.get("attachments")
    kept: list[dict[str, str]] = []
    for attachment in found[:MAX_ATTACHMENTS] if isinstance(found, list) else []:
        if not isinstance(attachment, dict):
            continue
        kind = attachment.get("type")
        payload = attachment.get("payload")
        url = payload.get("url") if isinstance(payload, dict) else None
        # Anything but a web address is not a link the team should click.
        if not (isinstance(url, str) and url.startswith("https://") and len(url) <= MAX_URL_CHARS):
            url = ""
        kept.append({"type": kind[:30] if isinstance(kind, str) else "file", "url": url})
    return kept


def parse_message(channel: str, event: dict[str, Any], now: datetime) -> InboundSocial | None:
    """The message of a `messaging` event the inbox keeps; None for an echo or one without a usable id."""
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None
    mid = message.get("mid")
    if not isinstance(mid, str) or not 0 < len(mid) <= MAX_MID_CHARS:
        return None
    text = message.get("text")
    text = text.strip() if isinstance(text, str) else ""
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS].rstrip() + " […]"
    return InboundSocial(
        mid=mid,
        channel=channel,
        sender_id=_id(event.get("sender")),
        recipient_id=_id(event.get("recipient")),
        text=text,
        attachments=_attachments(message),
        timestamp=_moment(event.get("timestamp"), now) or now,
    )


def message_body(inbound: InboundSocial) -> str:
    """What the team reads: the text, then each attachment's type and link (not downloaded)."""
    lines = [inbound.text] if inbound.text else []
    for attachment in inbound.attachments:
        lines.append(f"Attachment ({attachment['type']})" + (f": {attachment['url']}" if attachment["url"] else ""))
    return "\n\n".join(lines) or NO_TEXT


def receive_webhook(body: bytes, given_signature: str) -> WebhookResult:
    """Meta's POST: signature first, then every event of every entry, each on its own (one delivery may carry
    several). Events Patron does not keep are counted as ignored: Meta retries a delivery that is not answered 200."""
    verify_signature(body, given_signature)
    try:
        payload = json.loads(body)
    except ValueError:
        raise ValidationFailed("The body is not JSON.", fields={"body": ["Send Meta's JSON."]}) from None
    if not isinstance(payload, dict):
        raise ValidationFailed("The body is not a JSON object.", fields={"body": ["Send Meta's JSON."]})
    channel = OBJECT_CHANNELS.get(str(payload.get("object")))
    entries = payload.get("entry")
    events = [
        event
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("messaging"), list)
        for event in entry["messaging"]
    ]
    counts: Counter[str] = Counter()
    for event in events[:MAX_EVENTS]:
        counts[handle_event(channel, event) if channel else "ignored"] += 1
    counts["ignored"] += max(len(events) - MAX_EVENTS, 0)
    return WebhookResult(
        stored=counts["created"],
        duplicates=counts["duplicate"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        ignored=counts["ignored"],
    )


def handle_event(channel: str, event: Any) -> str:
    """One `messaging` event: `created`, `duplicate`, `updated`, `unchanged` or `ignored`."""
    if not isinstance(event, dict):
        return "ignored"
    ours = our_id(channel)
    # Messages to the store come from the customer to our id; echoes of our own sends come the other way round.
    customer = _id(event.get("sender"))
    if not ours or not customer or _id(event.get("recipient")) != ours:
        return "ignored"
    if "message" in event:
        inbound = parse_message(channel, event, timezone.now())
        return receive(inbound) if inbound is not None else "ignored"
    if isinstance(event.get("delivery"), dict):
        return record_progress(channel, customer, event["delivery"], SocialStatus.DELIVERED)
    if isinstance(event.get("read"), dict):
        return record_progress(channel, customer, event["read"], SocialStatus.READ)
    return "ignored"  # postbacks, reactions, referrals, edits...: not messages for the team


def receive(inbound: InboundSocial) -> str:
    if MessageSocial.objects.filter(mid=inbound.mid).exists():
        return "duplicate"
    try:
        with transaction.atomic():
            _store(inbound)
    except IntegrityError:
        # Meta delivered the same message twice at once: the other delivery stored it.
        if not MessageSocial.objects.filter(mid=inbound.mid).exists():
            raise
        return "duplicate"
    return "created"


def _store(inbound: InboundSocial) -> Message:
    contact = services.contact_for_identity(inbound.channel, inbound.sender_id)
    conversation = services.ongoing_conversation(
        contact, inbound.channel, reopen_within=REOPEN_WITHIN
    ) or services.start_channel_conversation(contact, inbound.channel)
    received = f"{Channel(inbound.channel).label} message received"
    _, message = services.add_incoming_message(conversation, message_body(inbound), received=received)
    MessageSocial.objects.create(
        message=message,
        direction=Direction.INBOUND,
        channel=inbound.channel,
        mid=inbound.mid,
        sender_id=inbound.sender_id,
        recipient_id=inbound.recipient_id,
        attachments=inbound.attachments,
        timestamp=inbound.timestamp,
        status=SocialStatus.RECEIVED,
    )
    return message


# --- Delivery and read events ----------------------------------------------------------------------------------


def record_progress(channel: str, customer: str, report: dict[str, Any], status: str) -> str:
    """A delivery or read event for the store's messages to `customer`: those it names (`mids`, Instagram's `mid`)
    and those sent up to its `watermark` move forward to `status`; `updated`, `unchanged` or `ignored`."""
    listed = report.get("mids")
    mids = [mid for mid in listed[:100] if isinstance(mid, str)] if isinstance(listed, list) else []
    if isinstance(report.get("mid"), str):
        mids.append(report["mid"])
    watermark = _moment(report.get("watermark"), timezone.now())
    if not mids and watermark is None:
        return "ignored"
    named = Q(mid__in=mids) | (Q(sent_at__lte=watermark) if watermark is not None else Q(pk__in=[]))
    behind = [state for state, rank in PROGRESS.items() if 0 < rank < PROGRESS[SocialStatus(status)]]
    with transaction.atomic():
        outgoing = list(
            MessageSocial.objects.select_for_update(of=("self",))
            .select_related("message__conversation")
            .filter(named, direction=Direction.OUTBOUND, channel=channel, recipient_id=customer)
            .filter(mid__isnull=False, status__in=behind)
            .order_by("pk")
        )
        moved = sum(
            outbox.advance(row, status, PROGRESS, record=services.record_social_delivery, note=row.mid or "")
            for row in outgoing
        )
    return "updated" if moved else "unchanged"


# --- Sending agents' replies -----------------------------------------------------------------------------------


def _customer_id(conversation: Conversation) -> str:
    """Whom a reply goes to: the sender of the customer's latest message in the conversation (a contact linked to
    several ids answers where they wrote), else the contact's id on the channel."""
    latest = (
        MessageSocial.objects.filter(message__conversation=conversation, direction=Direction.INBOUND)
        .order_by("-timestamp", "-pk")
        .values_list("sender_id", flat=True)
        .first()
    )
    if latest:
        return latest
    identity = (
        ContactIdentity.objects.filter(contact_id=conversation.contact_id, channel=conversation.channel)
        .order_by("-pk")
        .values_list("external_id", flat=True)
        .first()
    )
    return identity or ""


def window_closed(channel: str, customer: str, now: datetime | None = None) -> str:
    """Why a reply to `customer` may not be sent now (Meta's 24-hour window has closed), or "" when it may."""
    last = MessageSocial.objects.filter(direction=Direction.INBOUND, channel=channel, sender_id=customer).aggregate(
        last=Max("timestamp")
    )["last"]
    now = now or timezone.now()
    if last is not None and now - last <= STANDARD_WINDOW:
        return ""
    label = Channel(channel).label
    when = f"on {timezone.localtime(last).strftime('%Y-%m-%d %H:%M')}" if last else "never"
    return (
        f"The customer last wrote on {label} {when}, more than 24 hours ago: Meta lets a business answer only within "
        f"24 hours of the customer's last message. Nothing was sent; it can be sent when they write again, or reach "
        "them another way."
    )


def queue_reply(message: Message) -> MessageSocial | None:
    """Record the message an agent's reply goes out as and send it in the background once the reply is committed.

    Called inside the reply's transaction; private notes and other channels' messages are never sent, nor is a
    reply outside Meta's 24-hour window (kept in the thread, marked as not sent and why).
    """
    conversation = message.conversation
    if message.private or conversation.channel not in services.SOCIAL_CHANNELS:
        return None
    channel = conversation.channel
    customer = _customer_id(conversation)
    outgoing = MessageSocial.objects.create(
        message=message,
        direction=Direction.OUTBOUND,
        channel=channel,
        sender_id=our_id(channel),
        recipient_id=customer,
        status=SocialStatus.PENDING,
    )
    closed = window_closed(channel, customer)
    if closed:
        _hold_back(outgoing, conversation, SocialStatus.WINDOW_CLOSED, closed)
        return outgoing
    from patron.support import tasks  # the tasks module imports this one

    transaction.on_commit(lambda: tasks.send_reply_social.enqueue(outgoing.pk))
    return outgoing


def _hold_back(outgoing: MessageSocial, conversation: Conversation, status: str, reason: str) -> None:
    old = outgoing.status
    outgoing.status = status
    outgoing.error = reason[:500]
    outgoing.save(update_fields=["status", "error", "attempts"])
    services.record_social_delivery(conversation, old, status, note=reason)


class GraphError(Exception):
    """The Graph API's refusal: its error code and message (`{"error": {"code", "message", ...}}`)."""

    def __init__(self, http_status: int, code: int | None, subcode: int | None, message: str, transient: bool):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.message = message
        self.transient = transient

    @classmethod
    def from_response(cls, http_status: int, body: bytes) -> GraphError:
        try:
            error = json.loads(body or b"{}").get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
        message = str(error.get("message") or "no error message")[:300]
        transient = (
            http_status >= 500 or http_status == 429 or bool(error.get("is_transient")) or code in RETRYABLE_CODES
        )
        return cls(http_status, code, subcode, message, transient)

    def __str__(self) -> str:
        code = f"{self.code}/{self.subcode}" if self.subcode else str(self.code)
        return f"Graph API error {code} (HTTP {self.http_status}): {self.message}"


def send_path(channel: str) -> str:
    """The Send API's address: the Page's own (`me`, as the Page token says) for Messenger, the Instagram account's
    for Instagram (the Page token of the Page it is linked to)."""
    return "me/messages" if channel == Channel.MESSENGER else f"{settings.META_INSTAGRAM_ID}/messages"


def graph_post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST JSON to the Graph API with the Page token; its answer, or GraphError. The token is never logged."""
    query = urlencode({"access_token": settings.META_PAGE_ACCESS_TOKEN})
    request = urllib.request.Request(  # noqa: S310 (the Graph API's address, from settings)
        f"{settings.META_GRAPH_URL.rstrip('/')}/{path}?{query}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:  # noqa: S310
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as refusal:
        raise GraphError.from_response(refusal.code, refusal.read()) from None
    return answer if isinstance(answer, dict) else {}


def send_reply(outgoing_id: int) -> bool:
    """Send one waiting (or failed) reply through the Send API; True once Meta has it. Safe to run twice: a message
    Meta accepted is never sent again.

    A transient failure (network, 5xx, rate limits, Meta's `is_transient`) is logged, kept on the row and in the
    conversation's history, and retried later (`retry_unsent`) up to MAX_SEND_ATTEMPTS times; Meta's final refusals
    are kept the same way and not retried. A reply whose 24-hour window closed in between is not sent.
    """
    with transaction.atomic():
        outgoing = (
            MessageSocial.objects.select_for_update(of=("self",))
            .select_related("message__conversation")
            .filter(pk=outgoing_id, direction=Direction.OUTBOUND)
            .first()
        )
        if outgoing is None or outgoing.mid or outgoing.status not in (SocialStatus.PENDING, SocialStatus.FAILED):
            return False
        message = outgoing.message
        conversation = message.conversation
        channel = outgoing.channel
        outgoing.recipient_id = outgoing.recipient_id or _customer_id(conversation)
        closed = window_closed(channel, outgoing.recipient_id)
        if closed:
            _hold_back(outgoing, conversation, SocialStatus.WINDOW_CLOSED, closed)
            return False
        outgoing.attempts += 1
        old = outgoing.status
        outgoing.sender_id = outgoing.sender_id or our_id(channel)
        # Before the request: Meta's delivery and read watermarks are on its clock, at or after this moment.
        started = timezone.now()
        try:
            if not (settings.META_PAGE_ACCESS_TOKEN and our_id(channel)):
                raise RuntimeError(f"{Channel(channel).label} through Meta is not configured.")
            if not outgoing.recipient_id:
                raise ValueError(f"The customer's {Channel(channel).label} id is not known.")
            answer = graph_post(
                send_path(channel),
                {
                    "recipient": {"id": outgoing.recipient_id},
                    "messaging_type": "RESPONSE",
                    "message": {"text": message.body},
                },
            )
            mid = answer.get("message_id")
            if not isinstance(mid, str) or not 0 < len(mid) <= MAX_MID_CHARS:
                raise ValueError("The Send API answered without a message_id.")
        except Exception as failure:  # Meta's refusals and network errors alike: recorded, retried if worth it
            logger.exception("Support reply %s could not be sent to %s", outgoing.pk, channel)
            final = isinstance(failure, GraphError) and not failure.transient
            outgoing.status = SocialStatus.REJECTED if final else SocialStatus.FAILED
            described = str(failure) if isinstance(failure, GraphError) else f"{type(failure).__name__}: {failure}"
            outgoing.error = described[:500]
            outgoing.save(update_fields=["status", "attempts", "error", "recipient_id", "sender_id"])
            services.record_social_delivery(conversation, old, outgoing.status, note=outgoing.error)
            return False
        outgoing.mid = mid
        outgoing.status = SocialStatus.SENT
        outgoing.error = ""
        outgoing.sent_at = started
        outgoing.save(update_fields=["mid", "status", "attempts", "error", "sent_at", "recipient_id", "sender_id"])
        services.record_social_delivery(conversation, old, SocialStatus.SENT, note=mid)
    return True


def retry_unsent(older_than_minutes: int = 5) -> int:
    """Send again the replies Meta never accepted (a transient failure, or a task that never ran), attempts left."""
    unsent = MessageSocial.objects.filter(
        direction=Direction.OUTBOUND,
        mid__isnull=True,
        status__in=(SocialStatus.PENDING, SocialStatus.FAILED),
        attempts__lt=MAX_SEND_ATTEMPTS,
    )
    return outbox.retry_unsent(unsent, send_reply, older_than_minutes=older_than_minutes)
