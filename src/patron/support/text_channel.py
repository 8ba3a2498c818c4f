"""Text messages (SMS and WhatsApp, through Twilio) as channels of the one inbox: customers' messages in (Twilio's
signed webhook), agents' replies out (Twilio's Messages API, in a background task), delivery reports back.

Signatures. Twilio signs each webhook with the account's auth token over the exact URL it called plus the form
fields (`X-Twilio-Signature`). Patron may sit behind a proxy that changes the scheme, host or port it sees, so the
URL is rebuilt from SITE_URL (the public address) and the path, never from the request's Host header.

Threading. A text joins the conversation of its contact (known by phone number) on its channel that is open,
snoozed, or resolved less than REOPEN_WITHIN ago; otherwise it starts a new conversation, open for the team (the
assistant answers web chat only, and nothing here ever answers by itself).

Opt-outs. STOP (and Twilio's other opt-out words) marks the contact opted out of that channel; START lets them back
in. Twilio refuses to text an opted-out number anyway, but the inbox shows it and never tries: a reply to an
opted-out contact is kept in the thread, marked as not sent and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from patron.errors import PermissionDenied, ValidationFailed
from patron.support import outbox, services
from patron.support.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageText,
    TextStatus,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
# Twilio's own limit for one message's body (it splits a long SMS into segments up to this).
MAX_REPLY_CHARS = 1600
REPLY_MEDIUM = "SMS and WhatsApp"
MAX_BODY_CHARS = 5000
MAX_MEDIA = 10
MAX_SEND_ATTEMPTS = 5
SEND_TIMEOUT_SECONDS = 15
# A customer texting again within a week of a resolved conversation is still talking about the same thing.
REOPEN_WITHIN = timedelta(days=7)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
NO_TEXT = "(This message has no text.)"
# Twilio's default opt-out and opt-in keywords: the whole message, in any case.
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"})
START_WORDS = frozenset({"start", "unstop", "yes"})
# Twilio's error when the number has opted out at Twilio or the carrier (STOP sent before Patron saw it).
TWILIO_OPTED_OUT_ERROR = 21610

# Twilio's message states, and how far along each one is: a report never moves a message backwards, so a late
# or repeated report (Twilio does not promise their order) changes nothing.
TWILIO_STATUSES = {
    "accepted": TextStatus.QUEUED,
    "scheduled": TextStatus.QUEUED,
    "queued": TextStatus.QUEUED,
    "sending": TextStatus.SENDING,
    "sent": TextStatus.SENT,
    "delivered": TextStatus.DELIVERED,
    "read": TextStatus.READ,
    "undelivered": TextStatus.UNDELIVERED,
    "failed": TextStatus.FAILED,
    "canceled": TextStatus.FAILED,
}
PROGRESS = {
    TextStatus.PENDING: 0,
    TextStatus.QUEUED: 1,
    TextStatus.SENDING: 2,
    TextStatus.SENT: 3,
    TextStatus.DELIVERED: 4,
    TextStatus.UNDELIVERED: 4,
    TextStatus.FAILED: 4,
    TextStatus.READ: 5,
}


# --- Configuration and signatures --------------------------------------------------------------------------------


def sender_for(channel: str) -> str:
    """The store's address on a channel, as Twilio writes it ("+1415..." or "whatsapp:+1415..."); "" when off."""
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        return ""
    if channel == Channel.SMS:
        return settings.TWILIO_SMS_FROM
    if channel == Channel.WHATSAPP:
        sender = settings.TWILIO_WHATSAPP_FROM
        return sender if not sender or sender.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + sender
    return ""


def public_url(path: str) -> str:
    """The address Twilio called: SITE_URL (what the world sees, whatever the proxy in front) and the path."""
    return settings.SITE_URL.rstrip("/") + path


def verify_signature(path: str, params: QueryDict | dict[str, str], given: str) -> None:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        raise PermissionDenied("Text messages are not configured.", code="text_messages_disabled")
    if not given or not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(public_url(path), params, given):
        raise PermissionDenied("The signature does not match.", code="invalid_signature")
    account = params.get("AccountSid")
    if account and account != settings.TWILIO_ACCOUNT_SID:
        raise PermissionDenied("This message is for another Twilio account.", code="invalid_signature")


def make_http_client() -> HttpClient:
    """How the SDK reaches Twilio; a slow Twilio must not hold a worker for long."""
    return TwilioHttpClient(timeout=SEND_TIMEOUT_SECONDS)


def twilio_client() -> Client:
    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=make_http_client())


def channel_of(address: str) -> str:
    return Channel.WHATSAPP if address.lower().startswith(WHATSAPP_PREFIX) else Channel.SMS


def address_for(phone: str, channel: str) -> str:
    return f"{WHATSAPP_PREFIX}{phone}" if channel == Channel.WHATSAPP else phone


def keyword(body: str) -> str:
    """ "stop" or "start" when the whole message is one of Twilio's opt-out or opt-in words, else ""."""
    word = body.strip().strip(".!").lower()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return ""


# --- Receiving ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundText:
    sid: str
    channel: str
    phone: str
    from_address: str
    to_address: str
    body: str
    media: list[str]
    profile_name: str = ""


@dataclass(frozen=True)
class Received:
    """What became of a text: `created` (a message, perhaps a new conversation) or `duplicate` (already stored)."""

    outcome: str
    conversation: Conversation | None = None
    message: Message | None = None


def parse(params: QueryDict | dict[str, str]) -> InboundText:
    """The fields of Twilio's incoming-message webhook the inbox needs; media only as links."""
    sid = (params.get("MessageSid") or params.get("SmsMessageSid") or "").strip()
    if not sid or len(sid) > 64:
        raise ValidationFailed("MessageSid is missing.", fields={"MessageSid": ["This field is required."]})
    from_address = (params.get("From") or "").strip()
    channel = channel_of(from_address)
    phone = services.clean_phone(from_address[len(WHATSAPP_PREFIX) :] if channel == Channel.WHATSAPP else from_address)
    try:
        count = min(int(params.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    media = []
    for index in range(count):
        url = (params.get(f"MediaUrl{index}") or "").strip()
        # Links only (Twilio keeps the files); anything but a web address is not a link the team should click.
        if url.startswith("https://") and len(url) <= 500:
            media.append(url)
    body = (params.get("Body") or "").strip()
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS].rstrip() + " […]"
    return InboundText(
        sid=sid,
        channel=channel,
        phone=phone,
        from_address=address_for(phone, channel),
        to_address=(params.get("To") or "").strip()[:50],
        body=body,
        media=media,
        profile_name=(params.get("ProfileName") or "").strip(),
    )


def message_body(text: InboundText) -> str:
    """What the team reads: the text, then the media as links (not downloaded)."""
    lines = [text.body] if text.body else []
    if text.media:
        lines.append("Media: " + " ".join(text.media))
    return "\n\n".join(lines) or NO_TEXT


def receive_webhook(path: str, params: QueryDict | dict[str, str], given_signature: str) -> Received:
    """Twilio's call when a customer texts the store: signature first, then the message (once per MessageSid)."""
    verify_signature(path, params, given_signature)
    text = parse(params)
    if not sender_for(text.channel):
        raise PermissionDenied(f"{Channel(text.channel).label} is not configured.", code=f"{text.channel}_disabled")
    return receive(text)


def _existing(sid: str) -> Received | None:
    found = MessageText.objects.filter(sid=sid).select_related("message__conversation").first()
    return Received("duplicate", found.message.conversation, found.message) if found else None


def receive(text: InboundText) -> Received:
    existing = _existing(text.sid)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _store(text)
    except IntegrityError:
        # Twilio delivered the same message twice at once: the other delivery stored it.
        existing = _existing(text.sid)
        if existing is None:
            raise
        return existing


def thread_for(contact: Contact, channel: str, now: Any = None) -> Conversation | None:
    """The contact's conversation on this channel that is still going: open, snoozed, or recently resolved."""
    return services.ongoing_conversation(contact, channel, reopen_within=REOPEN_WITHIN, now=now)


def _store(text: InboundText) -> Received:
    contact = services.contact_for_phone(text.phone, name=text.profile_name)
    conversation = thread_for(contact, text.channel) or services.start_channel_conversation(contact, text.channel)
    locked, message = services.add_incoming_message(conversation, message_body(text), received="text message received")
    MessageText.objects.create(
        message=message,
        direction=Direction.INBOUND,
        channel=text.channel,
        sid=text.sid,
        from_address=text.from_address,
        to_address=text.to_address,
        media=text.media,
        status=TextStatus.RECEIVED,
    )
    word = keyword(text.body)
    if word:
        set_opt_out(contact, text.channel, opted_out=word == "stop", conversation=locked, note=f'sent "{text.body}"')
    return Received("created", locked, message)


def set_opt_out(contact: Contact, channel: str, *, opted_out: bool, conversation: Conversation, note: str) -> bool:
    """Record that the contact opted out of (or back into) a channel; False when that was already so."""
    field = "sms_opted_out_at" if channel == Channel.SMS else "whatsapp_opted_out_at"
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if (getattr(locked, field) is not None) == opted_out:
        return False
    value = timezone.now() if opted_out else None
    Contact.objects.filter(pk=contact.pk).update(**{field: value})
    setattr(contact, field, value)
    services.record_text_opt_out(conversation, channel, opted_out, note=note)
    return True


# --- Delivery reports ------------------------------------------------------------------------------------------


def receive_status_webhook(path: str, params: QueryDict | dict[str, str], given_signature: str) -> str:
    """Twilio's report on a message Patron sent: `updated`, `unchanged` (late or repeated) or `unknown`."""
    verify_signature(path, params, given_signature)
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()
    reported = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or not reported:
        raise ValidationFailed(
            "MessageSid and MessageStatus are required.",
            fields={"MessageStatus": ["This field is required."]},
        )
    status = TWILIO_STATUSES.get(reported)
    if status is None:
        return "unchanged"  # receiving/received: states of incoming messages, nothing to show
    error_code = (params.get("ErrorCode") or "").strip()[:20]
    return record_status(sid, status, error_code=error_code)


def record_status(sid: str, status: str, *, error_code: str = "") -> str:
    with transaction.atomic():
        outgoing = (
            MessageText.objects.select_for_update(of=("self",))
            .select_related("message__conversation")
            .filter(sid=sid, direction=Direction.OUTBOUND)
            .first()
        )
        if outgoing is None:
            return "unknown"
        error = None
        if status in (TextStatus.FAILED, TextStatus.UNDELIVERED):
            error = f"Twilio error {error_code}" if error_code else "Twilio could not deliver it"
        note = f"{sid}: {error}" if error else sid
        if not outbox.advance(outgoing, status, PROGRESS, record=services.record_text_delivery, note=note, error=error):
            return "unchanged"
    return "updated"


# --- Sending agents' replies -----------------------------------------------------------------------------------


def _opted_out_reason(contact: Contact, channel: str) -> str:
    at = contact.sms_opted_out_at if channel == Channel.SMS else contact.whatsapp_opted_out_at
    when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else "earlier"
    return f"The customer opted out of {Channel(channel).label} (STOP, {when}); nothing is sent until they send START."


def queue_reply(message: Message) -> MessageText | None:
    """Record the text an agent's reply goes out as and send it in the background once the reply is committed.

    Called inside the reply's transaction; private notes and other channels' messages are never texted, and
    nothing is texted to a contact who opted out (the reply is kept, marked as not sent and why).
    """
    conversation = message.conversation
    if message.private or conversation.channel not in services.TEXT_CHANNELS:
        return None
    # Read afresh: the conversation's copy may predate a STOP or START that just came in.
    contact = Contact.objects.get(pk=conversation.contact_id)
    channel = conversation.channel
    outgoing = MessageText.objects.create(
        message=message,
        direction=Direction.OUTBOUND,
        channel=channel,
        from_address=sender_for(channel),
        to_address=address_for(contact.phone, channel) if contact.phone else "",
        status=TextStatus.PENDING,
    )
    if contact.opted_out_of(channel):
        _hold_back(outgoing, conversation, _opted_out_reason(contact, channel))
        return outgoing
    from patron.support import tasks  # the tasks module imports this one

    transaction.on_commit(lambda: tasks.send_reply_text.enqueue(outgoing.pk))
    return outgoing


def _hold_back(outgoing: MessageText, conversation: Conversation, reason: str) -> None:
    old = outgoing.status
    outgoing.status = TextStatus.OPTED_OUT
    outgoing.error = reason[:500]
    outgoing.save(update_fields=["status", "error", "attempts"])
    services.record_text_delivery(conversation, old, TextStatus.OPTED_OUT, note=reason)


def _failure(failure: Exception) -> str:
    if isinstance(failure, TwilioRestException):
        return f"Twilio error {failure.code} (HTTP {failure.status}): {failure.msg}"
    return f"{type(failure).__name__}: {failure}"


def send_reply(outgoing_id: int) -> bool:
    """Send one waiting (or failed) reply through Twilio; True once Twilio has it. Safe to run twice: a message
    Twilio accepted is never sent again.

    A failure is logged, kept on the row and in the conversation's history, and retried later (`retry_unsent`) up
    to MAX_SEND_ATTEMPTS times. A contact who opted out in between is not texted.
    """
    with transaction.atomic():
        outgoing = (
            MessageText.objects.select_for_update(of=("self",))
            .select_related("message__conversation__contact")
            .filter(pk=outgoing_id, direction=Direction.OUTBOUND)
            .first()
        )
        if outgoing is None or outgoing.sid or outgoing.status not in (TextStatus.PENDING, TextStatus.FAILED):
            return False
        message = outgoing.message
        conversation = message.conversation
        contact = conversation.contact
        if contact.opted_out_of(outgoing.channel):
            _hold_back(outgoing, conversation, _opted_out_reason(contact, outgoing.channel))
            return False
        outgoing.attempts += 1
        old = outgoing.status
        outgoing.from_address = outgoing.from_address or sender_for(outgoing.channel)
        outgoing.to_address = outgoing.to_address or (
            address_for(contact.phone, outgoing.channel) if contact.phone else ""
        )
        try:
            if not sender_for(outgoing.channel):
                raise RuntimeError(f"{Channel(outgoing.channel).label} through Twilio is not configured.")
            if not outgoing.to_address:
                raise ValueError("The customer has no phone number.")
            sent = twilio_client().messages.create(
                to=outgoing.to_address,
                from_=outgoing.from_address,
                body=message.body,
                status_callback=public_url(reverse("api:twilio_status")),
            )
        except Exception as failure:  # Twilio's refusals and network errors alike: recorded, then retried
            logger.exception("Support reply %s could not be texted", outgoing.pk)
            if isinstance(failure, TwilioRestException) and failure.code == TWILIO_OPTED_OUT_ERROR:
                # The customer opted out at Twilio before Patron heard of it: now the inbox knows too.
                set_opt_out(contact, outgoing.channel, opted_out=True, conversation=conversation, note="Twilio 21610")
                _hold_back(outgoing, conversation, _opted_out_reason(contact, outgoing.channel))
                return False
            outgoing.status = TextStatus.FAILED
            outgoing.error = _failure(failure)[:500]
            outgoing.save(update_fields=["status", "attempts", "error", "from_address", "to_address"])
            services.record_text_delivery(conversation, old, TextStatus.FAILED, note=outgoing.error)
            return False
        outgoing.sid = sent.sid
        outgoing.status = TWILIO_STATUSES.get(str(sent.status or "queued"), TextStatus.QUEUED)
        outgoing.error = ""
        outgoing.sent_at = timezone.now()
        outgoing.save(update_fields=["sid", "status", "attempts", "error", "sent_at", "from_address", "to_address"])
        services.record_text_delivery(conversation, old, outgoing.status, note=str(sent.sid))
    return True


def retry_unsent(older_than_minutes: int = 5) -> int:
    """Send again the replies Twilio never accepted (failed, or whose task never ran), with attempts left."""
    unsent = MessageText.objects.filter(
        direction=Direction.OUTBOUND,
        sid__isnull=True,
        status__in=(TextStatus.PENDING, TextStatus.FAILED),
        attempts__lt=MAX_SEND_ATTEMPTS,
    )
    return outbox.retry_unsent(unsent, send_reply, older_than_minutes=older_than_minutes)
