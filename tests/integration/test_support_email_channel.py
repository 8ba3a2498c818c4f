"""E-mail as a support channel: the signed inbound webhook, threading of replies, loops avoided, and agents'
replies sent through a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.models import User
from patron.support import email_channel, services
from patron.support.models import (
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    EmailStatus,
    Message,
    MessageEmail,
    Sender,
)
from tests.servers import Inbox, free_port

pytestmark = pytest.mark.django_db

SECRET = "inbound-test-secret"
URL = "/api/support/inbound-email"


@pytest.fixture(autouse=True)
def _secret(settings: Settings) -> None:
    settings.SUPPORT_INBOUND_EMAIL_SECRET = SECRET
    settings.DEFAULT_FROM_EMAIL = "Patron Shop <help@shop.example.com>"


def raw_email(
    *,
    sender: str = "Jane Doe <jane@example.net>",
    subject: str = "Where is my parcel?",
    text: str | None = "Hello, my parcel has not arrived yet.",
    html: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "help@shop.example.com"
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.net")
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    if attachment is not None:
        message.add_attachment(attachment[1], maintype="application", subtype="pdf", filename=attachment[0])
    return message.as_bytes()


def post(client: Client, raw: bytes, signature: str | None = None) -> Any:
    headers = {} if signature == "" else {"X-Patron-Signature": signature or email_channel.signature(raw, SECRET)}
    return client.post(URL, raw, content_type="message/rfc822", headers=headers)


def received(client: Client, raw: bytes) -> Message:
    response = post(client, raw)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "created"
    return Message.objects.select_related("conversation__contact", "email").get(pk=response.json()["message_id"])


def agent_replies(
    conversation: Conversation, staff: User, body: str, capture: Callable[..., Any], *, private: bool = False
) -> Message:
    with capture(execute=True):
        if private:
            return services.add_note(conversation, body, actor=staff)
        return services.agent_reply(conversation, body, actor=staff)


# --- Receiving --------------------------------------------------------------------------------------------------


def test_a_signed_email_starts_an_open_email_conversation_for_its_sender(client: Client) -> None:
    raw = raw_email(message_id="<first@example.net>")
    response = post(client, raw)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "created"
    conversation = Conversation.objects.select_related("contact").get(pk=body["conversation_id"])
    assert conversation.channel == Channel.EMAIL
    assert conversation.status == ConversationStatus.OPEN
    assert (conversation.contact.email, conversation.contact.name, conversation.contact.user_id) == (
        "jane@example.net",
        "Jane Doe",
        None,
    )
    message = conversation.messages.get()
    assert message.pk == body["message_id"]
    assert (message.sender, message.body) == (Sender.CUSTOMER, "Hello, my parcel has not arrived yet.")
    stored = MessageEmail.objects.get(message=message)
    assert (stored.direction, stored.message_id_header, stored.subject, stored.from_address) == (
        Direction.INBOUND,
        "<first@example.net>",
        "Where is my parcel?",
        "jane@example.net",
    )
    assert ConversationEvent.objects.filter(
        conversation=conversation, field="status", to_value=ConversationStatus.OPEN
    ).exists()


def test_an_email_from_a_customers_address_goes_to_their_own_contact(client: Client, customer: User) -> None:
    message = received(client, raw_email(sender=f"Ada <{customer.email.upper()}>"))

    assert message.conversation.contact.user_id == customer.pk
    assert Contact.objects.filter(user=customer).count() == 1


def test_a_guest_writing_twice_without_threading_keeps_one_contact(client: Client) -> None:
    first = received(client, raw_email(subject="First question"))
    second = received(client, raw_email(subject="Another question"))

    assert first.conversation_id != second.conversation_id
    assert first.conversation.contact_id == second.conversation.contact_id


def test_the_same_message_id_twice_stores_one_message(client: Client) -> None:
    raw = raw_email(message_id="<again@example.net>")
    first = post(client, raw)
    second = post(client, raw)

    assert first.json()["status"] == "created"
    assert second.status_code == 200
    assert second.json() == {**first.json(), "status": "duplicate"}
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    ("signature", "status", "code"),
    [("sha256=" + "0" * 64, 401, "invalid_signature"), ("", 401, "invalid_signature")],
    ids=["wrong", "missing"],
)
def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_stored(
    client: Client, signature: str, status: int, code: str
) -> None:
    response = post(client, raw_email(), signature=signature)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
    assert not Contact.objects.exists()


def test_a_signature_made_with_another_secret_is_refused(client: Client) -> None:
    raw = raw_email()
    response = post(client, raw, signature=email_channel.signature(raw, "another-secret"))

    assert response.status_code == 401
    assert not Message.objects.exists()


def test_without_a_configured_secret_the_endpoint_refuses_everything(client: Client, settings: Settings) -> None:
    raw = raw_email()
    signed = email_channel.signature(raw, "")
    settings.SUPPORT_INBOUND_EMAIL_SECRET = ""

    response = post(client, raw, signature=signed)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "inbound_email_disabled"
    assert not Message.objects.exists()


def test_a_message_over_the_size_limit_is_refused(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = raw_email(text="x" * 2000)
    monkeypatch.setattr(email_channel, "MAX_RAW_BYTES", 1000)

    response = post(client, raw)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("Jane <jane@example.net>", {"Auto-Submitted": "auto-replied"}),
        ("Jane <jane@example.net>", {"Precedence": "bulk"}),
        ("Jane <jane@example.net>", {"Precedence": "junk"}),
        ("Mail Delivery System <MAILER-DAEMON@mx.example.net>", {}),
        ("Jane <jane@example.net>", {"X-Autoreply": "yes"}),
    ],
    ids=["auto-submitted", "bulk", "junk", "mailer-daemon", "x-autoreply"],
)
def test_auto_replies_and_bounces_are_dropped(client: Client, sender: str, headers: dict[str, str]) -> None:
    response = post(client, raw_email(sender=sender, subject="Out of office", headers=headers))

    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "conversation_id": None, "message_id": None}
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
    assert not MessageEmail.objects.exists()


def test_auto_submitted_no_is_a_person_writing(client: Client) -> None:
    message = received(client, raw_email(headers={"Auto-Submitted": "no"}))

    assert message.sender == Sender.CUSTOMER


def test_an_html_only_email_becomes_text(client: Client) -> None:
    html = (
        "<html><head><style>p {color: red}</style><title>x</title></head><body>"
        "<p>Hello&nbsp;team,</p><p>The <b>blue</b> mug &amp; the plate<br>arrived broken.</p>"
        "<script>alert('x')</script>"
        '<div class="gmail_quote">On Mon, Shop wrote:<blockquote>Your order shipped</blockquote></div>'
        "</body></html>"
    )
    message = received(client, raw_email(text=None, html=html))

    assert message.body == "Hello team,\n\nThe blue mug & the plate\narrived broken."
    assert "<" not in message.body and "alert" not in message.body and "shipped" not in message.body


def test_the_plain_text_part_is_preferred_to_the_html_one(client: Client) -> None:
    message = received(client, raw_email(text="Plain words", html="<p>HTML words</p>"))

    assert message.body == "Plain words"


def test_quoted_history_is_dropped(client: Client) -> None:
    text = (
        "Thanks, that works.\n"
        "> a quoted line in between\n"
        "Still one question: when does it ship?\n"
        "\n"
        "On Mon, 2 Mar 2026 at 10:00, Patron Shop <help@shop.example.com> wrote:\n"
        "> Your order KX7QM2RT9A has shipped.\n"
        ">\n"
        "> Best regards\n"
    )
    message = received(client, raw_email(text=text))

    assert message.body == "Thanks, that works.\nStill one question: when does it ship?"


def test_outlook_style_history_is_dropped() -> None:
    text = "New answer here.\n\nFrom: Patron Shop <help@shop.example.com>\nSent: Monday\nTo: Jane\n\nOld text"

    assert email_channel.strip_quoted(text) == "New answer here."


def test_attachments_are_only_named_and_long_bodies_are_cut(client: Client) -> None:
    long_text = "word " * 5000
    message = received(client, raw_email(text=long_text, attachment=("receipt.pdf", b"%PDF-1.4 ...")))

    assert message.email.attachments == ["receipt.pdf"]
    assert message.body.endswith("[Attachments not kept: receipt.pdf]")
    assert email_channel.TRUNCATED.strip() in message.body
    assert len(message.body) < email_channel.MAX_BODY_CHARS + 200
    assert "PDF-1.4" not in message.body


# --- Threading --------------------------------------------------------------------------------------------------


def test_a_reply_to_patrons_email_reopens_its_resolved_conversation(
    client: Client, staff: User, smtp_inbox: Inbox, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, raw_email(message_id="<start@example.net>"))
    conversation = first.conversation
    reply = agent_replies(conversation, staff, "It ships tomorrow.", django_capture_on_commit_callbacks)
    services.set_status(conversation, ConversationStatus.RESOLVED, actor=staff)
    patrons_id = MessageEmail.objects.get(message=reply).message_id_header

    answer = received(
        client,
        raw_email(
            subject="Re: Where is my parcel?",
            text="It did not ship.",
            headers={"In-Reply-To": patrons_id, "References": f"<start@example.net> {patrons_id}"},
        ),
    )

    assert answer.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    assert Conversation.objects.count() == 1
    assert ConversationEvent.objects.filter(
        conversation=conversation,
        field="status",
        from_value=ConversationStatus.RESOLVED,
        to_value=ConversationStatus.OPEN,
        note="the customer wrote again",
    ).exists()


def test_a_reply_naming_the_customers_own_earlier_email_joins_its_conversation(client: Client) -> None:
    first = received(client, raw_email(message_id="<mine@example.net>"))
    second = received(client, raw_email(subject="Also", headers={"References": "<mine@example.net>"}))

    assert second.conversation_id == first.conversation_id


def test_an_email_to_a_snoozed_conversation_wakes_it(client: Client, staff: User) -> None:
    first = received(client, raw_email(message_id="<snooze@example.net>"))
    services.snooze(first.conversation, timezone.now() + timedelta(days=1), actor=staff)

    received(client, raw_email(headers={"In-Reply-To": "<snooze@example.net>"}))

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.status == ConversationStatus.OPEN
    assert ConversationEvent.objects.filter(
        conversation=conversation, from_value=ConversationStatus.SNOOZED, note=services.CUSTOMER_WROTE
    ).exists()


def test_the_signed_subject_tag_threads_a_reply_without_headers(client: Client) -> None:
    first = received(client, raw_email())
    tag = email_channel.reference(first.conversation_id)

    second = received(client, raw_email(sender="Jane <jane@example.net>", subject=f"Re: Where is my parcel? {tag}"))

    assert second.conversation_id == first.conversation_id


def test_a_forged_reference_does_not_attach_to_another_conversation(client: Client) -> None:
    victim = received(client, raw_email(sender="Victim <victim@example.net>", message_id="<victim@example.net>"))
    other = victim.conversation_id
    forged_tags = [f"[#{other}-000000000000]", f"[#{other}]", email_channel.reference(other + 1)]

    for tag in forged_tags:
        attacker = received(
            client,
            raw_email(
                sender="Mallory <mallory@example.org>",
                subject=f"Re: anything {tag}",
                headers={"In-Reply-To": f"<{other}.c{other}@shop.example.com>"},
            ),
        )
        assert attacker.conversation_id != other
        assert attacker.conversation.contact.email == "mallory@example.org"

    assert Message.objects.filter(conversation_id=other).count() == 1


# --- Sending agents' replies --------------------------------------------------------------------------------------


def test_an_agents_reply_is_emailed_through_smtp_with_threading_headers(
    client: Client, staff: User, smtp_inbox: Inbox, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, raw_email(message_id="<ask-1@example.net>", subject="Where is my parcel?"))
    second = received(
        client,
        raw_email(
            message_id="<ask-2@example.net>",
            subject="Re: Where is my parcel?",
            headers={"In-Reply-To": "<ask-1@example.net>", "References": "<ask-1@example.net>"},
        ),
    )
    conversation = first.conversation
    assert second.conversation_id == conversation.pk

    text = "Your parcel left our warehouse today."
    reply = agent_replies(conversation, staff, text, django_capture_on_commit_callbacks)

    assert len(smtp_inbox.messages) == 1
    sent = smtp_inbox.messages[0]
    outgoing = MessageEmail.objects.get(message=reply)
    assert sent["To"] == "Jane Doe <jane@example.net>"
    assert sent["From"] == "Patron Shop <help@shop.example.com>"
    assert sent["Subject"] == f"Re: Where is my parcel? {email_channel.reference(conversation.pk)}"
    assert sent["Message-ID"] == outgoing.message_id_header
    assert outgoing.message_id_header.endswith("@shop.example.com>")
    assert sent["In-Reply-To"] == "<ask-2@example.net>"
    assert sent["References"].split() == ["<ask-1@example.net>", "<ask-2@example.net>"]
    assert sent.get_content().strip() == text
    assert (outgoing.direction, outgoing.status, outgoing.attempts) == (Direction.OUTBOUND, EmailStatus.SENT, 1)
    assert outgoing.sent_at is not None
    assert ConversationEvent.objects.filter(conversation=conversation, field="email", to_value="sent").exists()


def test_the_reply_from_the_inbox_page_is_emailed(
    client: Client, staff: User, smtp_inbox: Inbox, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, raw_email(subject="Broken mug"))
    client.force_login(staff)

    page = client.get(reverse("support:inbox_conversation", args=[first.conversation_id]))
    listing = client.get(reverse("support:inbox"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("support:inbox_action", args=[first.conversation_id, "reply"]), {"body": "Sorry!"})

    assert "Broken mug" in page.content.decode()
    assert "Broken mug" in listing.content.decode()
    assert [m["Subject"] for m in smtp_inbox.messages] == [
        f"Re: Broken mug {email_channel.reference(first.conversation_id)}"
    ]


def test_a_private_note_sends_nothing(
    client: Client, staff: User, smtp_inbox: Inbox, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, raw_email())

    agent_replies(first.conversation, staff, "Customer sounds upset.", django_capture_on_commit_callbacks, private=True)

    assert smtp_inbox.messages == []
    assert not MessageEmail.objects.filter(direction=Direction.OUTBOUND).exists()


def test_replies_on_web_chat_conversations_are_not_emailed(
    staff: User, customer: User, smtp_inbox: Inbox, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = services.start_conversation(customer, channel=Channel.WEB)

    agent_replies(conversation, staff, "Hello from the team.", django_capture_on_commit_callbacks)

    assert smtp_inbox.messages == []
    assert not MessageEmail.objects.exists()


def test_a_failed_send_is_recorded_and_sent_again_later(
    client: Client,
    staff: User,
    settings: Settings,
    smtp_inbox: Inbox,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = received(client, raw_email())
    working = settings.MAILERS
    closed = {"host": "127.0.0.1", "port": free_port(), "use_tls": False, "use_ssl": False, "timeout": 2}
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": closed}}

    reply = agent_replies(first.conversation, staff, "We are on it.", django_capture_on_commit_callbacks)

    outgoing = MessageEmail.objects.get(message=reply)
    assert (outgoing.status, outgoing.attempts) == (EmailStatus.FAILED, 1)
    assert "ConnectionRefusedError" in outgoing.error
    assert ConversationEvent.objects.filter(conversation=first.conversation, field="email", to_value="failed").exists()
    assert Message.objects.filter(pk=reply.pk).exists()  # the agent's reply itself is kept

    settings.MAILERS = working
    MessageEmail.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert email_channel.retry_unsent() == 1
    assert email_channel.retry_unsent() == 0  # sent once only

    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts, outgoing.error) == (EmailStatus.SENT, 2, "")
    assert [m["Message-ID"] for m in smtp_inbox.messages] == [outgoing.message_id_header]
