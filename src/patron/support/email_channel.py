"""E-mail as a channel of the one inbox: customers' e-mails in (the mail provider's signed webhook), agents' replies
out (through the project's mailer, in a background task).

Threading. A reply joins its conversation when its In-Reply-To or References names a Message-ID that Patron sent or
received in that conversation (Patron's own Message-IDs carry 128 random bits), or when its subject carries the
conversation's tag `[#<id>-<signature>]` (an HMAC of the id with SECRET_KEY, so a guessed or altered number attaches
nothing). Anything else starts a new e-mail conversation for the sender, open for the team: the assistant answers
web chat only.

Loops. Auto-replies, bounces and list mail (Auto-Submitted other than "no", Precedence bulk/junk/list, delivery
reports, mailer-daemon and postmaster senders) are dropped without a trace and never answered. Nothing here ever
answers an e-mail by itself; only an agent's reply is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage as ParsedEmail
from email.utils import parseaddr
from html.parser import HTMLParser

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from patron import webhooks
from patron.errors import DomainError, NotAuthenticated, PermissionDenied, ValidationFailed
from patron.support import outbox, services
from patron.support.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    EmailStatus,
    Message,
    MessageEmail,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Patron-Signature"
# Larger messages are refused before parsing (photos attached to a complaint fit well below this).
MAX_RAW_BYTES = 25 * 1024 * 1024
MAX_BODY_CHARS = 10_000
MAX_SUBJECT_CHARS = 200
MAX_HEADER_ID_CHARS = 255
MAX_REFERENCES = 20
MAX_ATTACHMENT_NAMES = 20
MAX_SEND_ATTEMPTS = 5
# Agents' e-mail replies are kept in the thread like any message, so the thread's limit is theirs too.
MAX_REPLY_CHARS = services.MAX_MESSAGE_LENGTH
REPLY_MEDIUM = "e-mail"
TRUNCATED = "\n\n[… the rest of this e-mail was cut]"
NO_TEXT = "(This e-mail has no text.)"
REFERENCE_SALT = "patron.support.email_channel.reference"
REFERENCE_RE = re.compile(r"\[#(\d{1,18})-([0-9a-f]{12})\]")
MESSAGE_ID_RE = re.compile(r"<[^<>\s]{1,250}>")
REPLY_PREFIX_RE = re.compile(r"^\s*((re|fwd?|aw|wg|sv|vs|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
LOOP_SENDERS = ("mailer-daemon", "postmaster", "noreply-dmarc-support")
BULK_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")

# Where the quoted history of a reply begins, as common mail clients write it.
ATTRIBUTION_RE = re.compile(r"^\s*(On\b.{0,300}\bwrote:|Le\b.{0,300}\ba écrit\s?:|Am\b.{0,300}\bschrieb\b.{0,80}:)\s*$")
ORIGINAL_RE = re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message|Ursprüngliche Nachricht)\s*-{2,}\s*$", re.I)
OUTLOOK_HEADER_RE = re.compile(r"^\s*\*?(From|De|Von)\s*:\*?\s", re.IGNORECASE)
OUTLOOK_FOLLOWING_RE = re.compile(r"^\s*\*?(Sent|Date|To|Subject|Envoyé|Gesendet|À|An)\s*:", re.IGNORECASE)


# --- The webhook's signature ---------------------------------------------------------------------------------


def signature(body: bytes, secret: str | None = None) -> str:
    """The `X-Patron-Signature` value a provider sends (see patron/webhooks.py)."""
    return webhooks.sign(body, secret if secret is not None else settings.SUPPORT_INBOUND_EMAIL_SECRET)


def verify_signature(body: bytes, given: str) -> None:
    if not settings.SUPPORT_INBOUND_EMAIL_SECRET:
        raise PermissionDenied("Inbound e-mail is not configured.", code="inbound_email_disabled")
    if not webhooks.is_signed(body, settings.SUPPORT_INBOUND_EMAIL_SECRET, given):
        raise NotAuthenticated("The signature does not match.", code="invalid_signature")


# --- Conversation references ---------------------------------------------------------------------------------


def reference(conversation_id: int) -> str:
    """The tag in the subject of Patron's e-mails, e.g. `[#123-9f2c0d1e4b7a]`: the id, signed with SECRET_KEY."""
    return f"[#{conversation_id}-{_reference_signature(conversation_id)}]"


def _reference_signature(conversation_id: int) -> str:
    return salted_hmac(REFERENCE_SALT, str(conversation_id), algorithm="sha256").hexdigest()[:12]


def conversation_from_reference(subject: str) -> int | None:
    """The conversation a subject's tag names, if its signature is right; a guessed or edited tag names none."""
    for number, signed in REFERENCE_RE.findall(subject or ""):
        if hmac.compare_digest(_reference_signature(int(number)), signed):
            return int(number)
    return None


def bare_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and Patron's tag: what "Re: ..." is built from."""
    subject = REFERENCE_RE.sub("", subject or "")
    return " ".join(REPLY_PREFIX_RE.sub("", subject).split())[:MAX_SUBJECT_CHARS]


def new_message_id(conversation_id: int) -> str:
    """A Message-ID nobody can guess (128 random bits), at the domain of the store's sender address."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "patron.localhost"
    return f"<{secrets.token_hex(16)}.c{conversation_id}@{domain}>"


# --- Parsing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundEmail:
    message_id: str
    sender_email: str
    sender_name: str
    subject: str
    body: str
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    to_address: str = ""
    automatic: bool = False


def _header(message: ParsedEmail, name: str) -> str:
    """A header as text; a malformed one reads as empty rather than failing the whole e-mail."""
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _ids(value: str) -> list[str]:
    return MESSAGE_ID_RE.findall(value or "")


def _own_id(message: ParsedEmail, raw: bytes) -> str:
    """The e-mail's Message-ID; one without (or with an absurd one) is named by its content, so a redelivery of
    the same bytes is still recognised."""
    found = _ids(_header(message, "Message-ID"))
    if found and len(found[0]) <= MAX_HEADER_ID_CHARS:
        return found[0]
    return f"<{hashlib.sha256(raw).hexdigest()}@inbound.patron.invalid>"


def is_automatic(message: ParsedEmail, sender: str) -> bool:
    """Auto-replies, bounces and list mail: never stored, never answered (RFC 3834), so no mail loop can start."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if _header(message, "Precedence").lower() in BULK_PRECEDENCE:
        return True
    if any(_header(message, name) for name in ("X-Autoreply", "X-Autorespond", "List-Id")):
        return True
    if _header(message, "X-Auto-Response-Suppress").lower() in ("all", "oof", "autoreply"):
        # Exchange marks its own out-of-office replies this way.
        return True
    if message.get_content_type() == "multipart/report":  # delivery and read reports
        return True
    if _header(message, "Return-Path") == "<>":  # the null sender of bounces
        return True
    return sender.partition("@")[0].lower() in LOOP_SENDERS


class _HTMLText(HTMLParser):
    """HTML to readable text: block elements break lines; scripts, styles and quoted history are left out."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "hr"})
    HIDDEN = frozenset({"script", "style", "head", "title", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self.hidden or tag in self.HIDDEN or "gmail_quote" in classes or "moz-cite-prefix" in classes:
            # Everything inside (the quoted message of Gmail, Thunderbird, Apple Mail) is hidden with it.
            if tag not in ("br", "hr", "img", "meta", "link", "input", "wbr"):
                self.hidden.append(tag)
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.hidden:
            if tag in self.hidden:
                while self.hidden and self.hidden.pop() != tag:
                    pass
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data.replace("\n", " "))

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return parser.text()


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything from the quoted history's attribution line on, and `>` lines, go."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        joined = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if ATTRIBUTION_RE.match(line) or ORIGINAL_RE.match(line):
            break
        # "On Mon, 3 Mar 2026 at 10:00, Shop <shop@example.com>\nwrote:" is wrapped over two lines by some clients.
        if line.strip().startswith("On ") and ATTRIBUTION_RE.match(joined) and len(lines[index + 1].split()) <= 2:
            break
        # Outlook: a "From:" line followed by "Sent:"/"To:"/"Subject:" lines.
        following = lines[index + 1 : index + 4]
        if OUTLOOK_HEADER_RE.match(line) and any(OUTLOOK_FOLLOWING_RE.match(nxt) for nxt in following):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    new = "\n".join(kept).strip()
    # A reply that is nothing but a quote keeps its text: the team should see what arrived.
    return new or text.strip()


def _text_body(message: ParsedEmail) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        # An unknown or lying charset: read the bytes as UTF-8, replacing what is not.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return html_to_text(content) if part.get_content_type() == "text/html" else content


def _attachment_names(message: ParsedEmail) -> list[str]:
    names: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            names.append(" ".join(str(filename or "unnamed").split())[:200])
        if len(names) >= MAX_ATTACHMENT_NAMES:
            break
    return names


def parse(raw: bytes) -> InboundEmail:
    """The parts of a raw RFC 822 message the inbox needs; attachments only by name."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, ParsedEmail)  # what policy.default makes
    name, address = "", ""
    try:
        sender = message["From"]
        addresses: tuple[Address, ...] = sender.addresses if sender is not None else ()
    except (ValueError, TypeError, IndexError, AttributeError):
        addresses = ()
    if addresses:
        name, address = addresses[0].display_name, addresses[0].addr_spec
    else:
        name, address = parseaddr(_header(message, "From"))
    subject = _header(message, "Subject")[:MAX_SUBJECT_CHARS]
    body = strip_quoted(_text_body(message))
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS].rstrip() + TRUNCATED
    attachments = _attachment_names(message)
    if attachments:
        # The files are not kept: the team sees that there were some and can ask for them.
        body = f"{body}\n\n[Attachments not kept: {', '.join(attachments)}]".strip()
    in_reply_to = _ids(_header(message, "In-Reply-To"))
    return InboundEmail(
        message_id=_own_id(message, raw),
        sender_email=address.strip(),
        sender_name=" ".join(name.split())[:200],
        subject=subject,
        body=body or NO_TEXT,
        in_reply_to=in_reply_to[0] if in_reply_to and len(in_reply_to[0]) <= MAX_HEADER_ID_CHARS else "",
        references=[ref for ref in _ids(_header(message, "References")) if len(ref) <= MAX_HEADER_ID_CHARS][
            -MAX_REFERENCES:
        ],
        attachments=attachments,
        to_address=parseaddr(_header(message, "To"))[1][:254],
        automatic=is_automatic(message, address),
    )


# --- Receiving -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """What became of an e-mail: `created` (a message, perhaps a new conversation), `duplicate` (already stored)
    or `ignored` (an auto-reply, a bounce, or no usable sender)."""

    outcome: str
    conversation: Conversation | None = None
    message: Message | None = None
    reason: str = ""


class TooLarge(DomainError):
    status = 413
    code = "too_large"


def receive_webhook(body: bytes, given_signature: str) -> Received:
    """The provider's call: the raw message (at most MAX_RAW_BYTES), its signature, then the message itself."""
    if len(body) > MAX_RAW_BYTES:
        raise TooLarge(f"The message is larger than {MAX_RAW_BYTES // (1024 * 1024)} MB.")
    verify_signature(body, given_signature)
    if not body.strip():
        raise ValidationFailed("The body is empty.", fields={"body": ["Send the raw message (message/rfc822)."]})
    return receive(body)


def thread_for(email: InboundEmail) -> Conversation | None:
    """The conversation an e-mail answers: by Message-IDs Patron sent or received, else by a signed subject tag."""
    named = [ref for ref in [email.in_reply_to, *reversed(email.references)] if ref]
    if named:
        known = dict(
            MessageEmail.objects.filter(message_id_header__in=named).values_list(
                "message_id_header", "message__conversation_id"
            )
        )
        for ref in named:  # the e-mail it answers directly first, then the newest of its references
            if ref in known:
                return Conversation.objects.filter(pk=known[ref]).select_related("contact").first()
    tagged = conversation_from_reference(email.subject)
    if tagged is not None:
        return Conversation.objects.filter(pk=tagged).select_related("contact").first()
    return None


def receive(raw: bytes) -> Received:
    """Store a customer's e-mail as a message of its conversation (found by threading, else new); once per
    Message-ID. A snoozed or resolved conversation reopens for the team."""
    email = parse(raw)
    if email.automatic:
        logger.info("Dropped an automatic e-mail %s from %s", email.message_id, email.sender_email)
        return Received("ignored", reason="automatic")
    try:
        sender = services.clean_email(email.sender_email)
    except ValidationFailed:
        logger.info("Dropped e-mail %s without a usable sender", email.message_id)
        return Received("ignored", reason="no sender")
    existing = MessageEmail.objects.filter(message_id_header=email.message_id).select_related("message").first()
    if existing is not None:
        return Received("duplicate", existing.message.conversation, existing.message)
    try:
        with transaction.atomic():
            return _store(email, sender)
    except IntegrityError:
        # The same e-mail delivered twice at once: the other delivery stored it.
        existing = MessageEmail.objects.filter(message_id_header=email.message_id).select_related("message").first()
        if existing is None:
            raise
        return Received("duplicate", existing.message.conversation, existing.message)


def _store(email: InboundEmail, sender: str) -> Received:
    conversation = thread_for(email)
    if conversation is None:
        conversation = services.start_channel_conversation(
            services.contact_for_email(sender, name=email.sender_name), Channel.EMAIL
        )
    locked, message = services.add_incoming_message(conversation, email.body, received="e-mail received")
    MessageEmail.objects.create(
        message=message,
        direction=Direction.INBOUND,
        message_id_header=email.message_id,
        in_reply_to=email.in_reply_to,
        references=" ".join(email.references),
        subject=email.subject,
        from_address=sender[:254],
        to_address=email.to_address,
        attachments=email.attachments,
        status=EmailStatus.RECEIVED,
    )
    return Received("created", locked, message)


# --- Sending agents' replies -----------------------------------------------------------------------------------


def conversation_subject(conversation: Conversation) -> str:
    """The subject the conversation started with (its first e-mail's), without prefixes and tag."""
    first = (
        MessageEmail.objects.filter(message__conversation=conversation)
        .exclude(subject="")
        .order_by("message__created_at", "pk")
        .values_list("subject", flat=True)
        .first()
    )
    return bare_subject(first or "")


def queue_reply(message: Message) -> MessageEmail | None:
    """Record the e-mail an agent's reply goes out as and send it in the background once the reply is committed.

    Called inside the reply's transaction; private notes and other channels' messages are never e-mailed.
    """
    conversation = message.conversation
    if message.private or conversation.channel != Channel.EMAIL:
        return None
    contact: Contact = conversation.contact
    last_in = (
        MessageEmail.objects.filter(message__conversation=conversation, direction=Direction.INBOUND)
        .order_by("-message__created_at", "-pk")
        .first()
    )
    references = [*(last_in.references.split() if last_in else []), *([last_in.message_id_header] if last_in else [])]
    subject = conversation_subject(conversation) or f"Your message to {settings.STORE_NAME}"
    outgoing = MessageEmail.objects.create(
        message=message,
        direction=Direction.OUTBOUND,
        message_id_header=new_message_id(conversation.pk),
        in_reply_to=last_in.message_id_header if last_in else "",
        references=" ".join(references[-MAX_REFERENCES:]),
        subject=f"Re: {subject} {reference(conversation.pk)}"[:255],
        from_address=parseaddr(settings.DEFAULT_FROM_EMAIL)[1][:254],
        to_address=contact.email,
        status=EmailStatus.QUEUED,
    )
    from patron.support import tasks  # the tasks module imports this one

    transaction.on_commit(lambda: tasks.send_reply_email.enqueue(outgoing.pk))
    return outgoing


def _build(outgoing: MessageEmail) -> EmailMessage:
    message = outgoing.message
    contact = message.conversation.contact
    to = str(Address(display_name=contact.name, addr_spec=outgoing.to_address)) if contact.name else outgoing.to_address
    headers = {"Message-ID": outgoing.message_id_header}
    if outgoing.in_reply_to:
        headers["In-Reply-To"] = outgoing.in_reply_to
    if outgoing.references:
        headers["References"] = outgoing.references
    return EmailMessage(subject=outgoing.subject, body=message.body, to=[to], headers=headers)


def send_reply(outgoing_id: int) -> bool:
    """Send one queued (or failed) reply; True once it has gone. Safe to run twice: a sent one is not sent again.

    A failure is logged, kept on the row and recorded in the conversation's history, and retried later
    (`retry_unsent`) up to MAX_SEND_ATTEMPTS times.
    """
    with transaction.atomic():
        outgoing = (
            MessageEmail.objects.select_for_update(of=("self",))
            .select_related("message__conversation__contact")
            .filter(pk=outgoing_id, direction=Direction.OUTBOUND)
            .first()
        )
        if outgoing is None or outgoing.status == EmailStatus.SENT:
            return False
        outgoing.attempts += 1
        conversation = outgoing.message.conversation
        old = outgoing.status
        try:
            if not outgoing.to_address:
                raise ValueError("The customer has no e-mail address.")
            _build(outgoing).send()
        except Exception as failure:  # SMTP and network errors alike: recorded, then retried
            logger.exception("Support reply %s could not be e-mailed", outgoing.message_id_header)
            outgoing.status = EmailStatus.FAILED
            outgoing.error = f"{type(failure).__name__}: {failure}"[:500]
            outgoing.save(update_fields=["status", "attempts", "error"])
            services.record_email_delivery(conversation, old, EmailStatus.FAILED, note=outgoing.error)
            return False
        outgoing.status = EmailStatus.SENT
        outgoing.error = ""
        outgoing.sent_at = timezone.now()
        outgoing.save(update_fields=["status", "attempts", "error", "sent_at"])
        services.record_email_delivery(conversation, old, EmailStatus.SENT, note=outgoing.message_id_header)
    return True


def retry_unsent(older_than_minutes: int = 5) -> int:
    """Send again the replies that failed, or whose task never ran, with attempts left; how many went out."""
    unsent = MessageEmail.objects.filter(
        direction=Direction.OUTBOUND,
        status__in=(EmailStatus.QUEUED, EmailStatus.FAILED),
        attempts__lt=MAX_SEND_ATTEMPTS,
    )
    return outbox.retry_unsent(unsent, send_reply, older_than_minutes=older_than_minutes)
