"""Messenger and Instagram as support channels: Meta's verification handshake and signed webhooks in, agents' replies
out to a stand-in for the Graph API's Send API on loopback, delivery and read events, retries, the length limit and
Meta's 24-hour window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.models import User
from patron.support import services, social_channel
from patron.support.models import (
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Message,
    MessageSocial,
    Sender,
    SocialStatus,
)
from patron.support.testing import (
    STUB_APP_SECRET,
    STUB_INSTAGRAM_ID,
    STUB_PAGE_ID,
    STUB_PAGE_TOKEN,
    GraphStub,
    deliver_meta_webhook,
    graph_error,
    running_graph_stub,
)

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/support/meta/webhook"
VERIFY_TOKEN = "patron-verify-token"
JANE = "6543210987654321"  # Jane's PSID for the store's Page
JANE_IG = "1789000000000042"  # Jane's IGSID for the store's Instagram account

_mids = count(1)


@pytest.fixture(autouse=True)
def _meta(settings: Settings) -> None:
    settings.META_APP_SECRET = STUB_APP_SECRET
    settings.META_VERIFY_TOKEN = VERIFY_TOKEN
    settings.META_PAGE_ACCESS_TOKEN = STUB_PAGE_TOKEN
    settings.META_PAGE_ID = STUB_PAGE_ID
    settings.META_INSTAGRAM_ID = STUB_INSTAGRAM_ID
    settings.META_GRAPH_URL = "http://127.0.0.1:9/unreachable"


@pytest.fixture
def graph(settings: Settings) -> Iterator[GraphStub]:
    with running_graph_stub() as stub:
        settings.META_GRAPH_URL = stub.base_url
        yield stub


def now_ms(ago: timedelta = timedelta()) -> int:
    return int((time.time() - ago.total_seconds()) * 1000)


def message_event(
    text: str | None = "Hi, where is my parcel?",
    *,
    sender: str = JANE,
    recipient: str = STUB_PAGE_ID,
    mid: str = "",
    ago: timedelta = timedelta(),
    **message: Any,
) -> dict[str, Any]:
    """One `messaging` event of Meta's webhook carrying a message."""
    body: dict[str, Any] = {"mid": mid or f"m_{next(_mids):040d}", **message}
    if text is not None:
        body["text"] = text
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": now_ms(ago), "message": body}


def payload(*events: dict[str, Any], kind: str = "page") -> dict[str, Any]:
    """A webhook delivery: one entry per event (Meta batches entries)."""
    ours = STUB_PAGE_ID if kind == "page" else STUB_INSTAGRAM_ID
    return {"object": kind, "entry": [{"id": ours, "time": now_ms(), "messaging": [event]} for event in events]}


def deliver(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = deliver_meta_webhook(client, WEBHOOK, body)
    assert response.status_code == 200, response.content
    result: dict[str, Any] = response.json()
    return result


def received(client: Client, event: dict[str, Any], *, kind: str = "page") -> Message:
    assert deliver(client, payload(event, kind=kind))["stored"] == 1
    stored = MessageSocial.objects.select_related("message__conversation__contact").get(mid=event["message"]["mid"])
    return stored.message


def agent_replies(
    conversation: Conversation, staff: User, body: str, capture: Any, *, private: bool = False
) -> Message:
    with capture(execute=True):
        if private:
            return services.add_note(conversation, body, actor=staff)
        return services.agent_reply(conversation, body, actor=staff)


def sent_reply(client: Client, staff: User, capture: Any, body: str = "It ships today.") -> MessageSocial:
    first = received(client, message_event())
    reply = agent_replies(first.conversation, staff, body, capture)
    return MessageSocial.objects.get(message=reply)


def history(conversation_id: int) -> list[tuple[str, str]]:
    return list(
        ConversationEvent.objects.filter(conversation_id=conversation_id, field="social").values_list(
            "from_value", "to_value"
        )
    )


# --- The verification handshake ---------------------------------------------------------------------------------


def test_the_handshake_answers_metas_challenge_with_the_right_verify_token(client: Client) -> None:
    response = client.get(
        WEBHOOK, {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    ("mode", "token"),
    [("subscribe", "not-the-token"), ("subscribe", ""), ("unsubscribe", VERIFY_TOKEN)],
    ids=["wrong-token", "no-token", "wrong-mode"],
)
def test_the_handshake_with_a_wrong_token_or_mode_is_refused(client: Client, mode: str, token: str) -> None:
    response = client.get(WEBHOOK, {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_verify_token"
    assert b"1158201444" not in response.content


def test_without_a_verify_token_the_handshake_is_refused(client: Client, settings: Settings) -> None:
    settings.META_VERIFY_TOKEN = ""

    response = client.get(WEBHOOK, {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "social_messages_disabled"


# --- Receiving --------------------------------------------------------------------------------------------------


def test_a_signed_messenger_message_from_a_new_psid_starts_an_open_conversation(client: Client) -> None:
    event = message_event("Hi, where is my parcel?", mid="m_first")

    result = deliver(client, payload(event))

    assert result == {"stored": 1, "duplicates": 0, "updated": 0, "unchanged": 0, "ignored": 0}
    conversation = Conversation.objects.select_related("contact").get()
    assert (conversation.channel, conversation.status) == (Channel.MESSENGER, ConversationStatus.OPEN)
    contact = conversation.contact
    assert (contact.name, contact.email, contact.phone, contact.user_id) == ("Messenger user …4321", "", "", None)
    assert list(ContactIdentity.objects.values_list("contact_id", "channel", "external_id")) == [
        (contact.pk, Channel.MESSENGER, JANE)
    ]
    message = conversation.messages.get()
    assert (message.sender, message.body) == (Sender.CUSTOMER, "Hi, where is my parcel?")
    stored = MessageSocial.objects.get(message=message)
    assert (stored.direction, stored.channel, stored.mid, stored.sender_id, stored.recipient_id, stored.status) == (
        Direction.INBOUND,
        Channel.MESSENGER,
        "m_first",
        JANE,
        STUB_PAGE_ID,
        SocialStatus.RECEIVED,
    )
    assert stored.timestamp is not None and abs(stored.timestamp - timezone.now()) < timedelta(minutes=1)
    assert ConversationEvent.objects.filter(
        conversation=conversation, field="status", to_value=ConversationStatus.OPEN, note="Messenger message received"
    ).exists()


def test_an_instagram_object_makes_an_instagram_conversation(client: Client) -> None:
    messenger = received(client, message_event("On Messenger"))
    instagram = received(
        client, message_event("On Instagram", sender=JANE_IG, recipient=STUB_INSTAGRAM_ID), kind="instagram"
    )

    assert instagram.conversation.channel == Channel.INSTAGRAM
    assert instagram.conversation_id != messenger.conversation_id
    assert instagram.conversation.contact.name == "Instagram user …0042"
    assert ContactIdentity.objects.get(channel=Channel.INSTAGRAM).external_id == JANE_IG
    assert MessageSocial.objects.get(message=instagram).channel == Channel.INSTAGRAM


def test_the_same_mid_twice_stores_one_message(client: Client) -> None:
    event = message_event(mid="m_twice")

    first = deliver(client, payload(event))
    second = deliver(client, payload(event))

    assert (first["stored"], second["stored"], second["duplicates"]) == (1, 0, 1)
    assert Message.objects.count() == 1
    assert MessageSocial.objects.count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "other-secret"], ids=["missing", "forged", "other"])
def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(client: Client, signature: str) -> None:
    body = payload(message_event())
    if signature == "other-secret":
        response = deliver_meta_webhook(client, WEBHOOK, body, secret="another-app-secret")
    else:
        response = deliver_meta_webhook(client, WEBHOOK, body, signature=signature)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
    assert not Contact.objects.exists()


def test_a_signature_of_another_body_is_refused(client: Client) -> None:
    signed = social_channel.signature(b'{"object": "page", "entry": []}')

    response = deliver_meta_webhook(client, WEBHOOK, payload(message_event()), signature=signed)

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_without_the_app_secret_every_delivery_is_refused(client: Client, settings: Settings) -> None:
    settings.META_APP_SECRET = ""

    response = deliver_meta_webhook(client, WEBHOOK, payload(message_event()), secret="")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "social_messages_disabled"
    assert not Message.objects.exists()


def test_several_entries_and_events_in_one_post_are_all_stored(client: Client) -> None:
    bob = "1111222233334444"
    body = payload(message_event("One"), message_event("From Bob", sender=bob))
    body["entry"][0]["messaging"].append(message_event("Two"))

    result = deliver(client, body)

    assert result["stored"] == 3
    jane = Conversation.objects.get(contact__identities__external_id=JANE)
    assert list(jane.messages.values_list("body", flat=True)) == ["One", "Two"]
    assert Conversation.objects.get(contact__identities__external_id=bob).messages.get().body == "From Bob"


def test_echoes_and_events_for_others_are_ignored_but_answered_200(client: Client, settings: Settings) -> None:
    echo = message_event("Our own reply", sender=STUB_PAGE_ID, recipient=JANE, is_echo=True, app_id=1517)
    other_page = message_event("For another Page", recipient="999999999999")
    postback = {"sender": {"id": JANE}, "recipient": {"id": STUB_PAGE_ID}, "timestamp": now_ms(), "postback": {}}
    kept = message_event("For us")

    result = deliver(client, payload(echo, other_page, postback, kept))

    assert (result["stored"], result["ignored"]) == (1, 3)
    assert list(Message.objects.values_list("body", flat=True)) == ["For us"]
    # A channel whose id is not set is off: its events are ignored, the delivery still answered 200.
    settings.META_INSTAGRAM_ID = ""
    instagram = message_event(sender=JANE_IG, recipient=STUB_INSTAGRAM_ID)
    assert deliver(client, payload(instagram, kind="instagram"))["ignored"] == 1
    assert deliver(client, {"object": "whatsapp_business_account", "entry": []})["stored"] == 0
    assert Message.objects.count() == 1


def test_a_second_message_joins_the_open_conversation_and_wakes_a_snoozed_one(client: Client, staff: User) -> None:
    first = received(client, message_event("First"))
    second = received(client, message_event("Second"))
    assert second.conversation_id == first.conversation_id
    assert Contact.objects.count() == 1

    services.snooze(first.conversation, timezone.now() + timedelta(days=1), actor=staff)
    third = received(client, message_event("Any news?"))

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert third.conversation_id == conversation.pk
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.OPEN, None)
    assert list(conversation.messages.values_list("body", flat=True)) == ["First", "Second", "Any news?"]
    assert ConversationEvent.objects.filter(
        conversation=conversation, from_value=ConversationStatus.SNOOZED, note=services.CUSTOMER_WROTE
    ).exists()


def test_a_recently_resolved_conversation_reopens_and_an_old_one_does_not(client: Client, staff: User) -> None:
    first = received(client, message_event("First"))
    services.set_status(first.conversation, ConversationStatus.RESOLVED, actor=staff)
    assert received(client, message_event("One more thing")).conversation_id == first.conversation_id

    services.set_status(first.conversation, ConversationStatus.RESOLVED, actor=staff)
    Conversation.objects.filter(pk=first.conversation_id).update(last_message_at=timezone.now() - timedelta(days=8))
    later = received(client, message_event("A new question"))

    assert later.conversation_id != first.conversation_id
    assert later.conversation.status == ConversationStatus.OPEN


def test_attachments_are_kept_as_links(client: Client) -> None:
    picture = "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg?_nc_cat=1&oh=abc"
    attachments = [
        {"type": "image", "payload": {"url": picture}},
        {"type": "file", "payload": {"url": "javascript:alert(1)"}},
    ]

    message = received(client, message_event("Look at the box", attachments=attachments))

    assert message.body == f"Look at the box\n\nAttachment (image): {picture}\n\nAttachment (file)"
    assert MessageSocial.objects.get(message=message).attachments == [
        {"type": "image", "url": picture},
        {"type": "file", "url": ""},
    ]
    only_picture = received(client, message_event(None, attachments=attachments[:1]))
    assert only_picture.body == f"Attachment (image): {picture}"


# --- Sending agents' replies ------------------------------------------------------------------------------------


def test_an_agents_reply_is_posted_to_the_send_api_and_its_message_id_recorded(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event("Where is my parcel?"))

    reply = agent_replies(first.conversation, staff, "It left our warehouse today.", django_capture_on_commit_callbacks)

    [sent] = graph.messages()
    assert sent == {
        "recipient": {"id": JANE},
        "messaging_type": "RESPONSE",
        "message": {"text": "It left our warehouse today."},
        "path": "/me/messages",
        "access_token": STUB_PAGE_TOKEN,
    }
    outgoing = MessageSocial.objects.get(message=reply)
    assert outgoing.mid is not None and outgoing.mid.startswith("m_")
    assert (outgoing.direction, outgoing.status, outgoing.attempts, outgoing.error) == (
        Direction.OUTBOUND,
        SocialStatus.SENT,
        1,
        "",
    )
    assert (outgoing.sender_id, outgoing.recipient_id) == (STUB_PAGE_ID, JANE)
    assert outgoing.sent_at is not None
    assert ConversationEvent.objects.filter(
        conversation=first.conversation, field="social", to_value=SocialStatus.SENT, note=outgoing.mid
    ).exists()
    client.force_login(staff)
    page = client.get(reverse("support:inbox_conversation", args=[first.conversation_id])).content.decode()
    assert "Messenger sent" in page
    assert "Messenger user …4321" in page


def test_an_instagram_reply_goes_through_the_instagram_account(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event("Hello", sender=JANE_IG, recipient=STUB_INSTAGRAM_ID), kind="instagram")

    reply = agent_replies(first.conversation, staff, "Hello Jane!", django_capture_on_commit_callbacks)

    [sent] = graph.messages()
    assert (sent["path"], sent["recipient"], sent["access_token"]) == (
        f"/{STUB_INSTAGRAM_ID}/messages",
        {"id": JANE_IG},
        STUB_PAGE_TOKEN,
    )
    outgoing = MessageSocial.objects.get(message=reply)
    assert (outgoing.status, outgoing.sender_id) == (SocialStatus.SENT, STUB_INSTAGRAM_ID)


def test_delivery_and_read_events_move_the_reply_forward_only(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    outgoing = sent_reply(client, staff, django_capture_on_commit_callbacks)
    mid = outgoing.mid
    assert mid is not None

    def event(kind: str, **report: Any) -> dict[str, Any]:
        return {"sender": {"id": JANE}, "recipient": {"id": STUB_PAGE_ID}, "timestamp": now_ms(), kind: report}

    assert deliver(client, payload(event("delivery", mids=[mid], watermark=now_ms())))["updated"] == 1
    assert deliver(client, payload(event("delivery", mids=[mid], watermark=now_ms())))["unchanged"] == 1  # a repeat
    assert deliver(client, payload(event("read", watermark=now_ms())))["updated"] == 1
    assert deliver(client, payload(event("delivery", mids=[mid], watermark=now_ms())))["unchanged"] == 1  # late
    assert deliver(client, payload(event("read", watermark=now_ms())))["unchanged"] == 1
    # Another customer's events, and events naming no message, change nothing.
    other = {"sender": {"id": "1111222233334444"}, "recipient": {"id": STUB_PAGE_ID}, "read": {"watermark": now_ms()}}
    assert deliver(client, payload(other))["unchanged"] == 1
    assert deliver(client, payload(event("delivery")))["ignored"] == 1

    outgoing.refresh_from_db()
    assert outgoing.status == SocialStatus.READ
    assert history(outgoing.message.conversation_id) == [
        ("pending", "sent"),
        ("sent", "delivered"),
        ("delivered", "read"),
    ]
    client.force_login(staff)
    page = client.get(reverse("support:inbox_conversation", args=[outgoing.message.conversation_id])).content.decode()
    assert "Messenger read" in page


def test_a_read_watermark_covers_only_replies_sent_up_to_it_and_instagram_reads_name_the_mid(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    outgoing = sent_reply(client, staff, django_capture_on_commit_callbacks)
    before = now_ms(timedelta(minutes=1))
    read_before = {"sender": {"id": JANE}, "recipient": {"id": STUB_PAGE_ID}, "read": {"watermark": before}}

    assert deliver(client, payload(read_before))["unchanged"] == 1
    assert MessageSocial.objects.get(pk=outgoing.pk).status == SocialStatus.SENT

    first = received(client, message_event("Hi", sender=JANE_IG, recipient=STUB_INSTAGRAM_ID), kind="instagram")
    reply = agent_replies(first.conversation, staff, "Hello!", django_capture_on_commit_callbacks)
    instagram = MessageSocial.objects.get(message=reply)
    seen = {"sender": {"id": JANE_IG}, "recipient": {"id": STUB_INSTAGRAM_ID}, "read": {"mid": instagram.mid}}

    assert deliver(client, payload(seen, kind="instagram"))["updated"] == 1
    assert MessageSocial.objects.get(pk=instagram.pk).status == SocialStatus.READ


def test_a_transient_graph_error_is_recorded_and_sent_again_later(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event())
    graph.fail_next = (400, graph_error(613, "Calls to this api have exceeded the rate limit."))

    reply = agent_replies(first.conversation, staff, "We are on it.", django_capture_on_commit_callbacks)

    outgoing = MessageSocial.objects.get(message=reply)
    assert (outgoing.status, outgoing.attempts, outgoing.mid) == (SocialStatus.FAILED, 1, None)
    assert outgoing.error == "Graph API error 613 (HTTP 400): Calls to this api have exceeded the rate limit."
    assert STUB_PAGE_TOKEN not in outgoing.error
    assert history(first.conversation_id) == [("pending", "failed")]

    MessageSocial.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert social_channel.retry_unsent() == 1
    assert social_channel.retry_unsent() == 0  # sent once only

    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts, outgoing.error) == (SocialStatus.SENT, 2, "")
    assert outgoing.mid is not None
    assert [m["message"]["text"] for m in graph.messages()] == ["We are on it.", "We are on it."]


def test_a_server_error_and_an_unreachable_graph_api_are_retried(
    client: Client, staff: User, settings: Settings, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event())  # META_GRAPH_URL points at a closed port

    reply = agent_replies(first.conversation, staff, "Hello.", django_capture_on_commit_callbacks)

    outgoing = MessageSocial.objects.get(message=reply)
    assert outgoing.status == SocialStatus.FAILED
    with running_graph_stub() as graph:
        settings.META_GRAPH_URL = graph.base_url
        graph.fail_next = (500, graph_error(2, "An unexpected error has occurred.", is_transient=True))
        MessageSocial.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
        assert social_channel.retry_unsent() == 0
        assert MessageSocial.objects.get(pk=outgoing.pk).status == SocialStatus.FAILED
        assert social_channel.retry_unsent() == 1
    assert MessageSocial.objects.get(pk=outgoing.pk).attempts == 3


def test_a_permanent_graph_error_is_recorded_and_not_retried(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event())
    refusal = graph_error(100, "No matching user found", error_subcode=2018001)
    graph.fail_next = (400, refusal)

    reply = agent_replies(first.conversation, staff, "Hello.", django_capture_on_commit_callbacks)

    outgoing = MessageSocial.objects.get(message=reply)
    assert (outgoing.status, outgoing.attempts, outgoing.mid) == (SocialStatus.REJECTED, 1, None)
    assert outgoing.error == "Graph API error 100/2018001 (HTTP 400): No matching user found"
    assert history(first.conversation_id) == [("pending", "rejected")]
    MessageSocial.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert social_channel.retry_unsent() == 0
    assert len(graph.messages()) == 1
    client.force_login(staff)
    page = client.get(reverse("support:inbox_conversation", args=[first.conversation_id])).content.decode()
    assert "Messenger refused by meta: Graph API error 100/2018001" in page


def test_retries_stop_after_the_last_attempt(
    client: Client, staff: User, settings: Settings, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event())
    settings.META_PAGE_ACCESS_TOKEN = ""  # sending was switched off after the message came in

    reply = agent_replies(first.conversation, staff, "Hello.", django_capture_on_commit_callbacks)
    outgoing = MessageSocial.objects.get(message=reply)
    MessageSocial.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    for _ in range(social_channel.MAX_SEND_ATTEMPTS + 2):
        social_channel.retry_unsent()

    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts) == (SocialStatus.FAILED, social_channel.MAX_SEND_ATTEMPTS)
    assert "not configured" in outgoing.error


def test_a_private_note_is_never_sent(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event())

    agent_replies(first.conversation, staff, "Customer sounds upset.", django_capture_on_commit_callbacks, private=True)

    assert graph.messages() == []
    assert not MessageSocial.objects.filter(direction=Direction.OUTBOUND).exists()


def test_a_too_long_reply_is_refused_with_a_clear_error(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event())
    too_long = "x" * (social_channel.MAX_REPLY_CHARS + 1)

    with pytest.raises(services.ValidationFailed) as refused:
        agent_replies(first.conversation, staff, too_long, django_capture_on_commit_callbacks)

    assert refused.value.status == 422
    assert "at most 2000 characters; this one has 2001" in refused.value.message
    assert "body" in refused.value.fields
    client.force_login(staff)
    response = client.post(
        reverse("support:inbox_action", args=[first.conversation_id, "reply"]), {"body": too_long}, follow=True
    )
    assert "at most 2000 characters" in response.content.decode()
    assert graph.messages() == []
    assert not Message.objects.filter(sender=Sender.AGENT).exists()
    # Exactly the limit goes.
    agent_replies(first.conversation, staff, "y" * social_channel.MAX_REPLY_CHARS, django_capture_on_commit_callbacks)
    assert len(graph.messages()[0]["message"]["text"]) == social_channel.MAX_REPLY_CHARS


def test_a_reply_more_than_24_hours_after_the_customers_last_message_is_not_sent(
    client: Client, staff: User, graph: GraphStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event("Hello?", ago=timedelta(hours=25)))

    reply = agent_replies(first.conversation, staff, "Sorry for the wait.", django_capture_on_commit_callbacks)

    assert graph.messages() == []
    outgoing = MessageSocial.objects.get(message=reply)
    assert (outgoing.status, outgoing.mid, outgoing.attempts) == (SocialStatus.WINDOW_CLOSED, None, 0)
    assert "more than 24 hours ago" in outgoing.error
    assert Message.objects.filter(pk=reply.pk).exists()  # the reply itself is kept
    assert history(first.conversation_id) == [("pending", "window_closed")]
    client.force_login(staff)
    page = client.get(reverse("support:inbox_conversation", args=[first.conversation_id])).content.decode()
    assert "Messenger not sent: outside meta&#x27;s 24-hour window: The customer last wrote on Messenger" in page
    # Nor does the retry job try it.
    MessageSocial.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert social_channel.retry_unsent() == 0

    # When the customer writes again, the window opens again: the next reply goes.
    received(client, message_event("Still there?", ago=timedelta(hours=23)))
    agent_replies(first.conversation, staff, "Yes, here it is.", django_capture_on_commit_callbacks)
    assert [m["message"]["text"] for m in graph.messages()] == ["Yes, here it is."]


def test_a_reply_whose_window_closed_before_it_was_sent_is_held_back(
    client: Client, staff: User, graph: GraphStub, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, message_event("Hello?", ago=timedelta(hours=23, minutes=59)))
    with django_capture_on_commit_callbacks(execute=False):  # the task is lost: the retry job sends it later
        reply = services.agent_reply(first.conversation, "Sorry for the wait.", actor=staff)
    MessageSocial.objects.filter(direction=Direction.INBOUND).update(timestamp=timezone.now() - timedelta(hours=25))
    MessageSocial.objects.filter(message=reply).update(created_at=timezone.now() - timedelta(minutes=10))

    assert social_channel.retry_unsent() == 0

    assert graph.messages() == []
    assert MessageSocial.objects.get(message=reply).status == SocialStatus.WINDOW_CLOSED
