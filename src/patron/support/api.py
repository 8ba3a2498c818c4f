"""/api/support: chat with the assistant, open tickets, and read one's own conversations and tickets.

Customers call with their bearer token. Guests call without one: the first `POST /chat` answers a conversation
`token`, sent back as `X-Support-Token` to continue or read that conversation (and nothing else).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.security import APIKeyHeader
from pydantic import StringConstraints

from patron.accounts.auth import JWTAuth, staff_required
from patron.accounts.models import User
from patron.support import chat, email_channel, services, social_channel, text_channel
from patron.support.models import Channel, Conversation, Message, Ticket

TOKEN_HEADER = "X-Support-Token"  # noqa: S105 (a header name)
MAX_ID = 2**63 - 1


class Guest:
    def __init__(self, token: str) -> None:
        self.token = token


class SupportTokenAuth(APIKeyHeader):
    """Guests, with or without a conversation token; a bearer token never falls back to guest access."""

    param_name = TOKEN_HEADER

    def authenticate(self, request: HttpRequest, key: str | None) -> Guest | None:
        if "HTTP_AUTHORIZATION" in request.META:
            return None
        return Guest(key or "")


jwt_auth = JWTAuth()
router = Router(tags=["support"])
either = [jwt_auth, SupportTokenAuth()]


def _user(request: HttpRequest) -> User | None:
    caller = request.auth  # type: ignore[attr-defined]
    return caller if isinstance(caller, User) else None


def _token(request: HttpRequest) -> str:
    caller = request.auth  # type: ignore[attr-defined]
    return caller.token if isinstance(caller, Guest) else ""


class QuickReplyOut(Schema):
    label: str
    value: str


class CitationOut(Schema):
    title: str
    url: str


class ProductOut(Schema):
    name: str
    price: str
    url: str
    stock: str
    in_stock: bool


class MessageOut(Schema):
    id: int
    sender: str
    body: str
    intent: str
    confidence: float | None
    created_at: datetime
    quick_replies: list[QuickReplyOut]
    actions: list[dict[str, str]]
    citations: list[CitationOut]
    products: list[ProductOut]

    @staticmethod
    def resolve_quick_replies(message: Message) -> list[Any]:
        return list(message.data.get("quick_replies", []))

    @staticmethod
    def resolve_actions(message: Message) -> list[Any]:
        return list(message.data.get("actions", []))

    @staticmethod
    def resolve_citations(message: Message) -> list[Any]:
        return list(message.data.get("citations", []))

    @staticmethod
    def resolve_products(message: Message) -> list[Any]:
        return list(message.data.get("products", []))


class ChatIn(Schema):
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=services.MAX_MESSAGE_LENGTH)
    ]
    conversation_id: int | None = Field(None, ge=1, le=MAX_ID, description="Omit to start a conversation")
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] = Field(
        "", description="Guests: where the team may answer"
    )


class ChatOut(Schema):
    conversation_id: int
    token: str = Field(description=f"Guests: send it as {TOKEN_HEADER} to continue this conversation")
    status: str
    handed_off: bool
    message: MessageOut
    reply: MessageOut | None = Field(description="The assistant's answer; none while people handle the conversation")


class ConversationSummaryOut(Schema):
    id: int
    channel: str
    status: str
    intent: str
    created_at: datetime
    last_message_at: datetime
    snoozed_until: datetime | None = Field(description="While snoozed: when it comes back to the team's inbox")
    order_number: str | None

    @staticmethod
    def resolve_order_number(conversation: Conversation) -> str | None:
        return conversation.order.number if conversation.order_id and conversation.order else None


class ConversationOut(ConversationSummaryOut):
    messages: list[MessageOut]

    @staticmethod
    def resolve_messages(conversation: Conversation) -> list[Message]:
        return list(services.public_messages(conversation))


class SnoozeIn(Schema):
    until: datetime | None = Field(
        None, description="When the conversation comes back; without a UTC offset it is read on the store's clock"
    )
    preset: Literal["1h", "tomorrow", "next_week"] | None = Field(
        None, description="Instead of `until`: in an hour, or 9:00 tomorrow or next Monday (store time)"
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class InboundEmailOut(Schema):
    status: Literal["created", "duplicate", "ignored"] = Field(
        description="`ignored`: an auto-reply, a bounce or list mail (never answered), or no usable sender"
    )
    conversation_id: int | None
    message_id: int | None


class TwilioStatusOut(Schema):
    status: Literal["updated", "unchanged", "unknown"] = Field(
        description="`unchanged`: a late or repeated report; `unknown`: not a message Patron sent"
    )


class MetaWebhookOut(Schema):
    stored: int = Field(description="New customers' messages")
    duplicates: int = Field(description="Messages already stored (Meta's retries)")
    updated: int = Field(description="Delivery or read events that moved a reply's state forward")
    unchanged: int = Field(description="Late or repeated delivery or read events")
    ignored: int = Field(description="Echoes of the store's own messages, events for other recipients, other kinds")


class TicketIn(Schema):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] = Field(
        "", description="Required for guests"
    )
    order_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = Field(
        "", description="The order it is about; guests must also give the order's e-mail"
    )
    conversation_id: int | None = Field(None, ge=1, le=MAX_ID)


class TicketOut(Schema):
    id: int
    subject: str
    description: str
    status: str
    priority: str
    order_number: str | None
    conversation_id: int | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @staticmethod
    def resolve_order_number(ticket: Ticket) -> str | None:
        return ticket.order.number if ticket.order_id and ticket.order else None


@router.post(
    "/chat",
    response=ChatOut,
    auth=either,
    summary="Send a message to the assistant",
    description="Starts a conversation without `conversation_id`. The reply carries quick replies (send their "
    "`value` as the next message), the actions proposed or taken, cited articles and found products. Actions that "
    "change an order are only proposed until the shopper answers yes.",
)
def send_message(request: HttpRequest, payload: ChatIn) -> dict[str, Any]:
    result = chat.send(
        _user(request),
        payload.message,
        conversation_id=payload.conversation_id,
        token=_token(request),
        channel=Channel.API,
        email=payload.email,
    )
    conversation = result.conversation
    return {
        "conversation_id": conversation.pk,
        "token": conversation.token,
        "status": conversation.status,
        "handed_off": conversation.status in services.OPEN_FOR_PEOPLE,
        "message": result.message,
        "reply": result.reply,
    }


@router.get("/conversations", response=list[ConversationSummaryOut], auth=jwt_auth, summary="Your conversations")
def list_conversations(request: HttpRequest) -> list[Conversation]:
    return list(services.list_conversations(_user(request)).select_related("order")[:100])


@router.get(
    "/conversations/{int:conversation_id}",
    response=ConversationOut,
    auth=either,
    summary="One of your conversations with its messages",
)
def get_conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return services.get_conversation(_user(request), conversation_id, token=_token(request))


@router.post(
    "/conversations/{int:conversation_id}/snooze",
    response=ConversationOut,
    auth=jwt_auth,
    summary="Snooze a conversation (staff)",
    description=f"Puts the conversation aside until `until` (in the future, at most "
    f"{services.MAX_SNOOZE.days} days ahead) or a `preset`; it reopens by itself then, or as soon as the customer "
    "writes. Snoozing a snoozed conversation moves its end.",
)
def snooze_conversation(request: HttpRequest, conversation_id: int, payload: SnoozeIn) -> Conversation:
    staff = staff_required(_user(request))
    conversation = services.get_conversation(staff, conversation_id)
    until = services.snooze_end(payload.until, payload.preset or "")
    services.snooze(conversation, until, actor=staff, note=payload.note)
    return conversation


@router.post("/ticket", response={201: TicketOut}, auth=either, summary="Open a ticket for the team")
def open_ticket(request: HttpRequest, payload: TicketIn) -> Status[Ticket]:
    user = _user(request)
    conversation = (
        services.get_conversation(user, payload.conversation_id, token=_token(request))
        if payload.conversation_id
        else None
    )
    ticket = services.open_ticket(
        user,
        subject=payload.subject,
        description=payload.description,
        email=payload.email,
        order_number=payload.order_number,
        conversation=conversation,
    )
    return Status(201, ticket)


@router.get("/tickets", response=list[TicketOut], auth=jwt_auth, summary="Your tickets")
def list_tickets(request: HttpRequest) -> list[Ticket]:
    return list(services.list_tickets(_user(request))[:100])


@router.get("/tickets/{int:ticket_id}", response=TicketOut, auth=jwt_auth, summary="One of your tickets")
def get_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    return services.get_ticket(_user(request), ticket_id)


@router.post(
    "/inbound-email",
    response=InboundEmailOut,
    summary="Customers' e-mails, from the mail provider's inbound webhook",
    description="The body is the raw e-mail (`Content-Type: message/rfc822`, at most "
    f"{email_channel.MAX_RAW_BYTES // (1024 * 1024)} MB), signed with `{email_channel.SIGNATURE_HEADER}: "
    "sha256=<HMAC-SHA256 of the raw body with SUPPORT_INBOUND_EMAIL_SECRET, hex>`; unset secret: 403. A reply "
    "joins its conversation (In-Reply-To/References or the subject's signed tag), anything else starts one. The "
    "same Message-ID twice is stored once; auto-replies and bounces are dropped.",
)
def inbound_email(request: HttpRequest) -> dict[str, Any]:
    # Read from the stream, not request.body, whose limit (DATA_UPLOAD_MAX_MEMORY_SIZE) is for forms.
    body = request.read(email_channel.MAX_RAW_BYTES + 1)
    received = email_channel.receive_webhook(body, request.headers.get(email_channel.SIGNATURE_HEADER, ""))
    return {
        "status": received.outcome,
        "conversation_id": received.conversation.pk if received.conversation else None,
        "message_id": received.message.pk if received.message else None,
    }


@router.post(
    "/twilio/messages",
    url_name="twilio_messages",
    summary="Customers' SMS and WhatsApp messages, from Twilio's incoming-message webhook",
    description="Twilio's form-encoded webhook (From, To, Body, MessageSid, NumMedia, MediaUrl0...), signed with "
    f"`{text_channel.SIGNATURE_HEADER}` (the account's auth token over SITE_URL + this path and the fields). "
    "Unsigned or forged: 403 `invalid_signature`; Twilio not configured: 403 `text_messages_disabled` (or "
    "`sms_disabled`/`whatsapp_disabled` for a channel without a sender). A `whatsapp:` sender is WhatsApp, anything "
    "else SMS. The same MessageSid twice is stored once. The answer is empty TwiML: Patron never auto-replies.",
)
def twilio_message(request: HttpRequest) -> HttpResponse:
    text_channel.receive_webhook(
        request.get_full_path(), request.POST, request.headers.get(text_channel.SIGNATURE_HEADER, "")
    )
    return HttpResponse(text_channel.EMPTY_TWIML, content_type="text/xml")


@router.post(
    "/twilio/status",
    response=TwilioStatusOut,
    url_name="twilio_status",
    summary="Delivery reports of agents' SMS and WhatsApp replies, from Twilio's status callback",
    description="Form-encoded (MessageSid, MessageStatus, ErrorCode), signed as `/twilio/messages`. Patron names "
    "this URL in each message it sends. A report never moves a message back (late or repeated ones change nothing).",
)
def twilio_status(request: HttpRequest) -> dict[str, str]:
    status = text_channel.receive_status_webhook(
        request.get_full_path(), request.POST, request.headers.get(text_channel.SIGNATURE_HEADER, "")
    )
    return {"status": status}


@router.get(
    "/meta/webhook",
    url_name="meta_webhook",
    summary="Meta's webhook verification handshake (Messenger, Instagram)",
    description="Meta calls it when the app's webhook is subscribed: `hub.mode=subscribe`, `hub.verify_token` (must "
    "equal META_VERIFY_TOKEN) and `hub.challenge`, answered as `text/plain`. A wrong token: 403 "
    "`invalid_verify_token`; META_VERIFY_TOKEN unset: 403 `social_messages_disabled`.",
)
def meta_verify(request: HttpRequest) -> HttpResponse:
    challenge = social_channel.verify_subscription(
        request.GET.get("hub.mode", ""), request.GET.get("hub.verify_token", ""), request.GET.get("hub.challenge", "")
    )
    return HttpResponse(challenge, content_type="text/plain")


@router.post(
    "/meta/webhook",
    response=MetaWebhookOut,
    summary="Customers' Messenger and Instagram messages, and delivery and read events, from Meta's webhook",
    description="Meta's JSON (`object` `page` or `instagram`, `entry[].messaging[]`), signed with "
    f"`{social_channel.SIGNATURE_HEADER}: sha256=<HMAC-SHA256 of the raw body with META_APP_SECRET, hex>`. Unsigned "
    "or forged: 403 `invalid_signature`, nothing stored; META_APP_SECRET unset: 403 `social_messages_disabled`. "
    "Every well-signed delivery is answered 200 with what became of its events; the same `mid` twice is stored "
    "once, echoes of the store's own messages are ignored, delivery and read events move replies forward only.",
)
def meta_webhook(request: HttpRequest) -> social_channel.WebhookResult:
    return social_channel.receive_webhook(request.body, request.headers.get(social_channel.SIGNATURE_HEADER, ""))
