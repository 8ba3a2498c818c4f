"""Support rules: contacts, conversations and their messages, hand-off to people, tickets, and the agents' inbox.

Shoppers only ever reach their own conversations and tickets: a customer through their account, a guest through
the conversation's secret token. Staff reach everything. Every change of a conversation's status, assignee,
priority or labels, and of a ticket's status, is appended to its event table.

Staff may snooze a conversation until a moment (as helpdesks do: "remind me when the parcel should have arrived");
it reopens by itself when that moment passes (`wake_due_conversations`, run every minute by the scheduler) or at
once when the customer writes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from patron import events
from patron.accounts.auth import staff_required
from patron.accounts.models import User
from patron.errors import NotAuthenticated, NotFound, RateLimited, ValidationFailed
from patron.orders import placement
from patron.orders import services as orders
from patron.orders.models import Order
from patron.support.models import (
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    MessageEmail,
    Priority,
    Sender,
    Ticket,
    TicketEvent,
    TicketStatus,
)

MAX_MESSAGE_LENGTH = 2000
MAX_MESSAGES_PER_MINUTE = 20
RECENT_ORDERS = 5
OPEN_FOR_PEOPLE = (ConversationStatus.OPEN, ConversationStatus.SNOOZED)
# Channels whose messages are SMS or WhatsApp messages through Twilio (patron.support.text_channel).
TEXT_CHANNELS = (Channel.SMS, Channel.WHATSAPP)
# Channels whose messages come through Meta's Messenger Platform (patron.support.social_channel).
SOCIAL_CHANNELS = (Channel.MESSENGER, Channel.INSTAGRAM)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
# Further ahead than this is forgetting a conversation, not snoozing it.
MAX_SNOOZE = timedelta(days=90)
# The presets of the inbox's snooze control; "tomorrow" and "next week" mean 9:00 in the store's time zone.
SNOOZE_PRESETS = {"1h": "For 1 hour", "tomorrow": "Until tomorrow 9:00", "next_week": "Until next Monday 9:00"}
SNOOZE_MORNING = time(9)
SNOOZE_ENDED = "snooze ended"
CUSTOMER_WROTE = "the customer wrote"
WAKE_BATCH = 100


def _signed_in(user: User | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


def _is_staff(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active and user.is_staff


def clean_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(
            "Enter a valid email address.", fields={"email": ["Enter a valid email address."]}
        ) from None
    return email.lower()


def clean_text(text: str, field: str = "message", max_length: int = MAX_MESSAGE_LENGTH) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Write a message first.", fields={field: ["This field is required."]})
    if len(text) > max_length:
        raise ValidationFailed("The message is too long.", fields={field: [f"At most {max_length} characters."]})
    return text


# --- Contacts --------------------------------------------------------------------------------------


def contact_for(user: User | None, *, email: str = "", name: str = "") -> Contact:
    """The customer's own contact, or a new guest contact (a guest's e-mail is only what they typed)."""
    signed_in = _signed_in(user)
    if signed_in is not None:
        contact, _ = Contact.objects.get_or_create(
            user=signed_in, defaults={"email": signed_in.email, "name": signed_in.name}
        )
        return contact
    return Contact.objects.create(email=clean_email(email) if email else "", name=name[:200])


def contact_for_email(email: str, *, name: str = "") -> Contact:
    """Who wrote an e-mail: the customer whose account has this address, else the guest contact already known by
    it, else a new guest contact (through contact_for, as every channel creates them)."""
    email = clean_email(email)
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is not None:
        return contact_for(user)
    known = Contact.objects.filter(email__iexact=email, user__isnull=True).order_by("pk").first()
    return known if known is not None else contact_for(None, email=email, name=name)


def clean_phone(phone: str) -> str:
    """A phone number in E.164 (+14155550100); spaces, dots, dashes and brackets people type are dropped."""
    cleaned = re.sub(r"[\s().-]", "", phone or "")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not E164_RE.match(cleaned):
        raise ValidationFailed(
            "Enter a phone number in international format.",
            fields={"phone": ["Enter the number with its country code, e.g. +14155550100."]},
        )
    return cleaned


def contact_for_phone(phone: str, *, name: str = "") -> Contact:
    """Who sent a text message: the contact already known by this number, else a new guest contact.

    Accounts keep no phone number of their own (only their postal addresses do, and that may be the recipient's),
    so a number never links a text to a customer's account; an agent can see the contact's orders once linked.
    """
    phone = clean_phone(phone)
    known = Contact.objects.filter(phone=phone).order_by("pk").first()
    if known is not None:
        return known
    return Contact.objects.create(phone=phone, name=" ".join(name.split())[:200])


def contact_for_identity(channel: str, external_id: str) -> Contact:
    """Who wrote on a platform that knows people only by an id of its own (Messenger's PSID, Instagram's IGSID):
    the contact with that id on that channel, else a new guest contact, called "Messenger user …1234" (no profile
    is fetched) until an agent links it to a customer."""
    found = ContactIdentity.objects.filter(channel=channel, external_id=external_id).select_related("contact").first()
    if found is not None:
        return found.contact
    try:
        with transaction.atomic():
            contact = Contact.objects.create(name=f"{Channel(channel).label} user …{external_id[-4:]}")
            ContactIdentity.objects.create(contact=contact, channel=channel, external_id=external_id)
            return contact
    except IntegrityError:
        # The same sender's first two messages arrived at once: the other one created the contact.
        return ContactIdentity.objects.select_related("contact").get(channel=channel, external_id=external_id).contact


def remember_email(contact: Contact, email: str) -> None:
    """A guest's address (typed in the chat, or proven by their order), for the team to see and answer."""
    if contact.user_id is None and not contact.email:
        Contact.objects.filter(pk=contact.pk).update(email=email.lower())
        contact.email = email.lower()


# --- Conversations ---------------------------------------------------------------------------------


def start_conversation(user: User | None, *, channel: str = Channel.WEB, email: str = "") -> Conversation:
    if channel not in Channel.values:
        raise ValidationFailed("Unknown channel.", fields={"channel": [f"Choose one of {', '.join(Channel.values)}."]})
    return Conversation.objects.create(
        contact=contact_for(user, email=email), channel=channel, token=secrets.token_urlsafe(32)
    )


def start_channel_conversation(contact: Contact, channel: str) -> Conversation:
    """A conversation that began with an e-mail, a text or a social message: people answer it (the assistant
    answers the web chat only), and their replies go out on the same channel."""
    if outbound_channel(channel) is None:
        raise ValidationFailed(
            "Not a channel that replies go out on.", fields={"channel": ["Choose e-mail, a text or a social channel."]}
        )
    return Conversation.objects.create(contact=contact, channel=channel, token=secrets.token_urlsafe(32))


def list_conversations(user: User | None) -> QuerySet[Conversation]:
    """The customer's own conversations, newest activity first."""
    signed_in = _signed_in(user)
    if signed_in is None:
        raise NotAuthenticated("Sign in first.")
    return Conversation.objects.filter(contact__user=signed_in).annotate(
        message_count=Count("messages", filter=Q(messages__private=False))
    )


def get_conversation(user: User | None, conversation_id: int, *, token: str = "") -> Conversation:
    """A conversation its owner may read: the customer's own, one whose token the guest holds, or any for staff."""
    conversation = (
        Conversation.objects.select_related("contact", "assignee", "order").filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    signed_in = _signed_in(user)
    if _is_staff(signed_in):
        return conversation
    if signed_in is not None and conversation.contact.user_id == signed_in.pk:
        return conversation
    if token and constant_time_compare(conversation.token, token):
        return conversation
    raise NotFound("No such conversation.")


def public_messages(conversation: Conversation, *, after: int = 0) -> QuerySet[Message]:
    """What the shopper sees: every message but the team's private notes."""
    return conversation.messages.filter(private=False, pk__gt=after).order_by("created_at", "pk")


def add_message(
    conversation: Conversation,
    sender: str,
    body: str,
    *,
    author: User | None = None,
    private: bool = False,
    intent: str = "",
    confidence: float | None = None,
    data: dict | None = None,
) -> Message:
    message = Message.objects.create(
        conversation=conversation,
        sender=sender,
        author=author,
        body=body,
        private=private,
        intent=intent[:50],
        confidence=confidence,
        data=data or {},
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=message.created_at)
    conversation.last_message_at = message.created_at
    if sender == Sender.CUSTOMER and conversation.status == ConversationStatus.SNOOZED:
        # The customer did not wait for the snooze to end: they need an answer now.
        _wake(conversation, note=CUSTOMER_WROTE)
    return message


def add_incoming_message(conversation: Conversation, body: str, *, received: str) -> tuple[Conversation, Message]:
    """A customer's message from a channel people answer (e-mail, texts, social messages; the assistant answers web
    chat only): the conversation, locked, becomes open for the team. A new one is recorded as `received`, a
    resolved one as reopened; a snoozed one wakes (add_message). Inside the caller's transaction."""
    locked = Conversation.objects.select_for_update(of=("self",)).select_related("contact").get(pk=conversation.pk)
    message = add_message(locked, Sender.CUSTOMER, body)
    if locked.status != ConversationStatus.OPEN:
        note = received if locked.status == ConversationStatus.PENDING else "the customer wrote again"
        set_status(locked, ConversationStatus.OPEN, actor=None, note=note)
    return locked, message


def ongoing_conversation(
    contact: Contact, channel: str, *, reopen_within: timedelta, now: datetime | None = None
) -> Conversation | None:
    """The contact's conversation on a channel that is still going: open, snoozed, or resolved less than
    `reopen_within` ago (a customer writing again soon after is still talking about the same thing)."""
    recent = (now or timezone.now()) - reopen_within
    return (
        Conversation.objects.filter(contact=contact, channel=channel)
        .filter(~Q(status=ConversationStatus.RESOLVED) | Q(last_message_at__gte=recent))
        .order_by("-last_message_at", "-pk")
        .first()
    )


def check_rate(conversation: Conversation) -> None:
    """At most MAX_MESSAGES_PER_MINUTE shopper messages a minute in one conversation."""
    key = f"support:rate:{conversation.pk}:{int(timezone.now().timestamp() // 60)}"
    cache.add(key, 0, 90)
    if cache.incr(key) > MAX_MESSAGES_PER_MINUTE:
        raise RateLimited("Too many messages at once. Please wait a moment.", retry_after=60)


def _record(conversation: Conversation, field: str, old: str, new: str, *, actor: User | None, note: str = "") -> None:
    ConversationEvent.objects.create(
        conversation=conversation,
        field=field,
        from_value=old[:200],
        to_value=new[:200],
        actor=_signed_in(actor),
        note=note[:200],
    )


def _move(locked: Conversation, status: str, *, actor: User | None, note: str, until: datetime | None = None) -> None:
    """The one place a conversation's status changes: on a row locked by the caller, recorded, and a snooze's end
    time kept only while it is snoozed."""
    _record(locked, "status", locked.status, status, actor=actor, note=note)
    locked.status = status
    locked.snoozed_until = until if status == ConversationStatus.SNOOZED else None
    locked.save(update_fields=["status", "snoozed_until"])
    if status == ConversationStatus.RESOLVED:
        events.publish(events.ConversationResolved(conversation_id=locked.pk))


def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def _copy_status(conversation: Conversation, locked: Conversation) -> None:
    conversation.status = locked.status
    conversation.snoozed_until = locked.snoozed_until


def set_status(
    conversation: Conversation, status: str, *, actor: User | None, note: str = "", until: datetime | None = None
) -> Conversation:
    """Move a conversation to `status`, recording the change; resolving it publishes ConversationResolved.

    Snoozing needs `until` and goes through `snooze` (staff only), so no conversation sleeps without an end.
    """
    if status not in ConversationStatus.values:
        raise ValidationFailed(
            "Unknown status.", fields={"status": [f"Choose one of {', '.join(ConversationStatus.values)}."]}
        )
    if status == ConversationStatus.SNOOZED:
        if until is None:
            raise ValidationFailed("Choose until when to snooze.", fields={"until": ["This field is required."]})
        return snooze(conversation, until, actor=actor, note=note)
    with transaction.atomic():
        locked = _lock(conversation)
        if locked.status != status:
            _move(locked, status, actor=actor, note=note)
    _copy_status(conversation, locked)
    return locked


def snooze_until(preset: str, now: datetime | None = None) -> datetime:
    """The moment a preset of the snooze control means: in an hour, or 9:00 tomorrow or next Monday, store time."""
    now = now or timezone.now()
    if preset == "1h":
        return now + timedelta(hours=1)
    store_zone = timezone.get_default_timezone()
    today = timezone.localtime(now, store_zone).date()
    if preset == "tomorrow":
        day = today + timedelta(days=1)
    elif preset == "next_week":
        day = today + timedelta(days=7 - today.weekday())
    else:
        raise ValidationFailed(
            "Unknown snooze choice.", fields={"preset": [f"Choose one of {', '.join(SNOOZE_PRESETS)}."]}
        )
    # make_aware, not tzinfo=: the zone's offset on that day (summer time may begin or end in between).
    return timezone.make_aware(datetime.combine(day, SNOOZE_MORNING), store_zone)


def snooze_end(until: datetime | None, preset: str = "", now: datetime | None = None) -> datetime:
    """What a snooze control sent: a preset (which wins) or a moment; neither is refused."""
    if preset:
        return snooze_until(preset, now)
    if until is None:
        raise ValidationFailed(
            "Choose until when to snooze.", fields={"until": ["Choose a preset or a date and time."]}
        )
    return until


def _check_snooze_time(until: datetime, now: datetime) -> datetime:
    past = ValidationFailed(
        "A conversation can only be snoozed until a time in the future.",
        fields={"until": ["Choose a time in the future."]},
    )
    try:
        if timezone.is_naive(until):
            # A time without a zone is what the agent read on the store's clock (an HTML datetime-local field).
            until = timezone.make_aware(until, timezone.get_default_timezone())
        if until <= now:
            raise past
    except OverflowError:
        # Year 1 in a zone east of UTC has no UTC equivalent; it is in the past whatever it means.
        raise past from None
    if until > now + MAX_SNOOZE:
        raise ValidationFailed(
            f"A conversation can be snoozed for at most {MAX_SNOOZE.days} days.",
            fields={"until": [f"Choose a time within {MAX_SNOOZE.days} days."]},
        )
    return until


def _moment(at: datetime) -> str:
    """A moment as the history shows it: on the store's clock, with its offset so that it is never ambiguous."""
    return timezone.localtime(at, timezone.get_default_timezone()).isoformat(timespec="minutes")


def snooze(
    conversation: Conversation,
    until: datetime,
    *,
    actor: User | None,
    note: str = "",
    now: datetime | None = None,
) -> Conversation:
    """Staff put a conversation aside until `until` (future, at most MAX_SNOOZE ahead); it then reopens by itself.

    Snoozing again moves the end, recorded as a `snoozed_until` event; the same end again changes nothing.
    """
    staff = staff_required(actor)
    until = _check_snooze_time(until, now or timezone.now())
    described = f"until {_moment(until)}" + (f": {note}" if note else "")
    with transaction.atomic():
        locked = _lock(conversation)
        if locked.status != ConversationStatus.SNOOZED:
            _move(locked, ConversationStatus.SNOOZED, actor=staff, note=described, until=until)
        elif locked.snoozed_until != until:
            old = _moment(locked.snoozed_until) if locked.snoozed_until else ""
            _record(locked, "snoozed_until", old, _moment(until), actor=staff, note=note)
            locked.snoozed_until = until
            locked.save(update_fields=["snoozed_until"])
    _copy_status(conversation, locked)
    return locked


def _wake(conversation: Conversation, *, note: str) -> None:
    """Reopen a snoozed conversation; one already woken (by the job, or staff) is left as it is."""
    with transaction.atomic():
        locked = _lock(conversation)
        if locked.status == ConversationStatus.SNOOZED:
            _move(locked, ConversationStatus.OPEN, actor=None, note=note)
    _copy_status(conversation, locked)


def wake_due_conversations(now: datetime | None = None) -> int:
    """Reopen every snoozed conversation whose snooze has ended; how many were reopened.

    Safe to run twice or on several workers: rows are taken under their lock, in batches by primary key, skipping
    those another worker holds, and re-read there, so a conversation is woken (and recorded) once.
    """
    now = now or timezone.now()
    woken = 0
    while True:
        with transaction.atomic():
            batch = list(
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now)
                .order_by("pk")[:WAKE_BATCH]
            )
            for locked in batch:
                _move(locked, ConversationStatus.OPEN, actor=None, note=SNOOZE_ENDED)
        woken += len(batch)
        if len(batch) < WAKE_BATCH:
            return woken


def hand_off(conversation: Conversation, *, reason: str, suggested_reply: str, priority: str = "") -> Conversation:
    """Put the conversation in the team's inbox with why the assistant stepped back and a reply it suggests."""
    with transaction.atomic():
        set_status(conversation, ConversationStatus.OPEN, actor=None, note=reason)
        changes = {"handoff_reason": reason[:200], "suggested_reply": suggested_reply}
        if priority and priority != conversation.priority:
            _record(conversation, "priority", conversation.priority, priority, actor=None, note=reason)
            changes["priority"] = priority
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        for name, value in changes.items():
            setattr(conversation, name, value)
        conversation.status = ConversationStatus.OPEN
    return conversation


def link_order(conversation: Conversation, order: Order) -> None:
    if conversation.order_id != order.pk:
        Conversation.objects.filter(pk=conversation.pk).update(order=order)
        conversation.order = order


# --- The team's side -------------------------------------------------------------------------------


class OutboundChannel(Protocol):
    """A channel module that carries agents' replies out (e-mail, text messages, social messages)."""

    REPLY_MEDIUM: str
    MAX_REPLY_CHARS: int

    def queue_reply(self, message: Message) -> object: ...


def outbound_channel(channel: str) -> OutboundChannel | None:
    """The module that sends agents' replies on `channel`; None for the chat and the API, whose customers read
    the thread itself."""
    # Imported here: each channel module builds on this one.
    from patron.support import email_channel, social_channel, text_channel

    modules: dict[str, OutboundChannel] = {
        Channel.EMAIL: email_channel,
        **dict.fromkeys(TEXT_CHANNELS, text_channel),
        **dict.fromkeys(SOCIAL_CHANNELS, social_channel),
    }
    return modules.get(channel)


def _check_reply_length(body: str, outbound: OutboundChannel) -> None:
    """Refused before anything is stored, with the channel's own limit: the agent shortens it."""
    limit = outbound.MAX_REPLY_CHARS
    if len(body) > limit:
        raise ValidationFailed(
            f"Replies by {outbound.REPLY_MEDIUM} can be at most {limit} characters; this one has {len(body)}. "
            "Shorten it or send it in parts.",
            fields={"body": [f"At most {limit} characters for {outbound.REPLY_MEDIUM}."]},
        )


def agent_reply(conversation: Conversation, body: str, *, actor: User | None) -> Message:
    """A member of staff answers the shopper; an unassigned conversation becomes theirs. On channels other than
    the chat the reply is sent by a background task after the commit (see each channel module)."""
    staff = staff_required(actor)
    outbound = outbound_channel(conversation.channel)
    if outbound is not None:
        _check_reply_length((body or "").strip(), outbound)
    body = clean_text(body, "body")
    with transaction.atomic():
        message = add_message(conversation, Sender.AGENT, body, author=staff)
        if conversation.assignee_id is None:
            assign(conversation, staff, actor=staff)
        if conversation.status != ConversationStatus.OPEN:
            set_status(conversation, ConversationStatus.OPEN, actor=staff, note="agent replied")
        if outbound is not None:
            outbound.queue_reply(message)
    return message


def record_email_delivery(conversation: Conversation, old: str, new: str, *, note: str = "") -> None:
    """An agent's reply was e-mailed, or could not be: kept in the conversation's history with the reason."""
    _record(conversation, "email", old, new, actor=None, note=note)


def record_text_delivery(conversation: Conversation, old: str, new: str, *, note: str = "") -> None:
    """An agent's reply went out as an SMS or WhatsApp message, was delivered, failed, or was held back."""
    _record(conversation, "text", old, new, actor=None, note=note)


def record_social_delivery(conversation: Conversation, old: str, new: str, *, note: str = "") -> None:
    """An agent's reply went out on Messenger or Instagram, was delivered, read, failed, or was held back."""
    _record(conversation, "social", old, new, actor=None, note=note)


def record_text_opt_out(conversation: Conversation, channel: str, opted_out: bool, *, note: str) -> None:
    """The customer sent STOP (or START) on a text channel: kept in the history of the conversation it came in."""
    old, new = ("", channel) if opted_out else (channel, "")
    _record(conversation, "opt_out", old, new, actor=None, note=note)


def add_note(conversation: Conversation, body: str, *, actor: User | None) -> Message:
    staff = staff_required(actor)
    return add_message(conversation, Sender.AGENT, clean_text(body, "body"), author=staff, private=True)


def assign(conversation: Conversation, assignee: User | None, *, actor: User | None) -> Conversation:
    staff_required(actor)
    if assignee is not None and not _is_staff(assignee):
        raise ValidationFailed(
            "Conversations go to members of staff.", fields={"assignee": ["Choose a member of staff."]}
        )
    old = conversation.assignee.email if conversation.assignee else ""
    new = assignee.email if assignee else ""
    if old != new:
        _record(conversation, "assignee", old, new, actor=actor)
        Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)
        conversation.assignee = assignee
    return conversation


def set_priority(conversation: Conversation, priority: str, *, actor: User | None) -> Conversation:
    staff_required(actor)
    if priority not in Priority.values:
        raise ValidationFailed(
            "Unknown priority.", fields={"priority": [f"Choose one of {', '.join(Priority.values)}."]}
        )
    if priority != conversation.priority:
        _record(conversation, "priority", conversation.priority, priority, actor=actor)
        Conversation.objects.filter(pk=conversation.pk).update(priority=priority)
        conversation.priority = priority
    return conversation


def set_team(conversation: Conversation, team: str, *, actor: User | None) -> Conversation:
    """Which team handles it (free text such as "returns" or "payments"); empty for none."""
    staff_required(actor)
    team = team.strip().lower()[:50]
    if team != conversation.team:
        _record(conversation, "team", conversation.team, team, actor=actor)
        Conversation.objects.filter(pk=conversation.pk).update(team=team)
        conversation.team = team
    return conversation


def set_labels(conversation: Conversation, labels: Sequence[str], *, actor: User | None) -> Conversation:
    staff_required(actor)
    cleaned = sorted({label.strip().lower()[:30] for label in labels if label.strip()})[:10]
    if cleaned != list(conversation.labels):
        _record(conversation, "labels", ",".join(conversation.labels), ",".join(cleaned), actor=actor)
        Conversation.objects.filter(pk=conversation.pk).update(labels=cleaned)
        conversation.labels = cleaned
    return conversation


@dataclass(frozen=True)
class InboxFilters:
    status: str = ""
    channel: str = ""
    assignee: str = ""  # "" anyone, "me", "none", or a staff user id
    priority: str = ""
    team: str = ""


def inbox(actor: User | None, filters: InboxFilters) -> QuerySet[Conversation]:
    """Conversations for the team, filtered; by default those waiting for people now. Snoozed ones stay out of
    that view until they wake (their own status filter lists them), as in other helpdesks: a snooze is for
    clearing the queue."""
    staff = staff_required(actor)
    # The subject of an e-mail conversation's first e-mail, in the same query.
    first_subject = (
        MessageEmail.objects.filter(message__conversation=OuterRef("pk"))
        .exclude(subject="")
        .order_by("message__created_at", "pk")
        .values("subject")[:1]
    )
    conversations = Conversation.objects.select_related("contact", "assignee", "order").annotate(
        email_subject=Subquery(first_subject)
    )
    if filters.status == "all":
        pass
    elif filters.status in ConversationStatus.values:
        conversations = conversations.filter(status=filters.status)
    else:
        conversations = conversations.filter(status=ConversationStatus.OPEN)
    if filters.channel in Channel.values:
        conversations = conversations.filter(channel=filters.channel)
    if filters.priority in Priority.values:
        conversations = conversations.filter(priority=filters.priority)
    if filters.team:
        conversations = conversations.filter(team=filters.team.strip().lower())
    if filters.assignee == "me":
        conversations = conversations.filter(assignee=staff)
    elif filters.assignee == "none":
        conversations = conversations.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        conversations = conversations.filter(assignee_id=int(filters.assignee))
    return conversations


def customer_orders(contact: Contact, limit: int = RECENT_ORDERS) -> list[Order]:
    """The contact's latest orders: their account's, or for a guest those placed with their e-mail."""
    if contact.user_id is not None:
        found = Order.objects.filter(user_id=contact.user_id)
    elif contact.email:
        found = Order.objects.filter(email__iexact=contact.email, user__isnull=True)
    else:
        return []
    return list(found.order_by("-placed_at", "-id")[:limit])


# --- Orders as the shopper may see them --------------------------------------------------------------


def order_for_guest(number: str, email: str) -> Order:
    """A guest's order, only when both its number and its e-mail match; otherwise NotFound, whichever was wrong."""
    number = (number or "").strip().lstrip("#").upper()
    found = Order.objects.filter(number=number).only("pk", "number", "email").first()
    email = (email or "").strip().lower()
    # Compared in constant time, and the same answer for an unknown number as for a wrong e-mail.
    if found is None or not email or not constant_time_compare(found.email.lower(), email):
        raise NotFound("No order matches that number and e-mail.")
    return placement.order_for_token(found.number, placement.order_access_token(found))


def order_for_customer(user: User, number: str) -> Order:
    return orders.get_order_by_number(user, (number or "").strip().lstrip("#").upper())


# --- Tickets ---------------------------------------------------------------------------------------


def open_ticket(
    user: User | None,
    *,
    subject: str,
    description: str,
    email: str = "",
    order_number: str = "",
    conversation: Conversation | None = None,
) -> Ticket:
    """A request for the team to follow up; it names the order only when the shopper may see that order."""
    subject = clean_text(subject, "subject", 200)
    description = clean_text(description, "description", 5000)
    signed_in = _signed_in(user)
    if signed_in is None and not email:
        raise ValidationFailed("Tell us where to reply.", fields={"email": ["Enter your email address."]})
    order = None
    if order_number:
        order = order_for_customer(signed_in, order_number) if signed_in else order_for_guest(order_number, email)
    contact = conversation.contact if conversation is not None else contact_for(signed_in, email=email)
    with transaction.atomic():
        ticket = Ticket.objects.create(
            contact=contact, conversation=conversation, order=order, subject=subject, description=description
        )
        TicketEvent.objects.create(ticket=ticket, to_status=ticket.status, actor=signed_in, note="opened")
    return ticket


def list_tickets(user: User | None) -> QuerySet[Ticket]:
    signed_in = _signed_in(user)
    if signed_in is None:
        raise NotAuthenticated("Sign in first.")
    return Ticket.objects.filter(contact__user=signed_in).select_related("order")


def get_ticket(user: User | None, ticket_id: int) -> Ticket:
    signed_in = _signed_in(user)
    if signed_in is None:
        raise NotAuthenticated("Sign in first.")
    tickets = Ticket.objects.select_related("order", "contact")
    if not _is_staff(signed_in):
        tickets = tickets.filter(contact__user=signed_in)
    ticket = tickets.filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def set_ticket_status(ticket: Ticket, status: str, *, actor: User | None, note: str = "") -> Ticket:
    staff_required(actor)
    if status not in TicketStatus.values:
        raise ValidationFailed(
            "Unknown status.", fields={"status": [f"Choose one of {', '.join(TicketStatus.values)}."]}
        )
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != status:
            TicketEvent.objects.create(
                ticket=locked, from_status=locked.status, to_status=status, actor=actor, note=note[:200]
            )
            now = timezone.now()
            locked.status = status
            locked.updated_at = now
            locked.closed_at = now if status in (TicketStatus.SOLVED, TicketStatus.CLOSED) else None
            locked.save(update_fields=["status", "updated_at", "closed_at"])
    return locked
