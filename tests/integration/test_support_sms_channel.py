"""SMS and WhatsApp as support channels: Twilio's signed webhooks in, agents' replies out through the real twilio
SDK talking to a stand-in for Twilio's API on loopback, delivery reports, opt-outs and retries."""

from __future__ import annotations

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
from patron.support import services, text_channel
from patron.support.models import (
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Message,
    MessageText,
    Sender,
    TextStatus,
)
from patron.support.testing import (
    STUB_ACCOUNT_SID,
    STUB_AUTH_TOKEN,
    TwilioStub,
    deliver_twilio_webhook,
    running_twilio_stub,
)

pytestmark = pytest.mark.django_db

MESSAGES = "/api/support/twilio/messages"
STATUS = "/api/support/twilio/status"
SHOP_SMS = "+15005550006"
SHOP_WHATSAPP = "whatsapp:+14155238886"
JANE = "+447700900123"

_sids = count(1)


@pytest.fixture(autouse=True)
def _twilio(settings: Settings) -> None:
    settings.SITE_URL = "https://shop.example.com"
    settings.TWILIO_ACCOUNT_SID = STUB_ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = STUB_AUTH_TOKEN
    settings.TWILIO_SMS_FROM = SHOP_SMS
    settings.TWILIO_WHATSAPP_FROM = SHOP_WHATSAPP


@pytest.fixture
def twilio() -> Iterator[TwilioStub]:
    with running_twilio_stub() as stub:
        yield stub


def inbound(
    body: str = "Hi, where is my parcel?", *, sender: str = JANE, sid: str = "", **extra: str
) -> dict[str, str]:
    """The fields of Twilio's incoming-message webhook."""
    to = SHOP_WHATSAPP if sender.startswith("whatsapp:") else SHOP_SMS
    return {
        "MessageSid": sid or f"SM{next(_sids):032x}",
        "AccountSid": STUB_ACCOUNT_SID,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def received(client: Client, params: dict[str, str]) -> Message:
    response = deliver_twilio_webhook(client, MESSAGES, params)
    assert response.status_code == 200, response.content
    stored = MessageText.objects.select_related("message__conversation__contact").get(sid=params["MessageSid"])
    return stored.message


def agent_replies(
    conversation: Conversation, staff: User, body: str, capture: Any, *, private: bool = False
) -> Message:
    with capture(execute=True):
        if private:
            return services.add_note(conversation, body, actor=staff)
        return services.agent_reply(conversation, body, actor=staff)


def report(client: Client, sid: str, status: str, **extra: str) -> Any:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": STUB_ACCOUNT_SID, **extra}
    return deliver_twilio_webhook(client, STATUS, params)


# --- Receiving --------------------------------------------------------------------------------------------------


def test_a_signed_sms_from_a_new_number_starts_an_open_conversation(client: Client) -> None:
    params = inbound("Hi, where is my parcel?", sid="SM" + "a" * 32)

    response = deliver_twilio_webhook(client, MESSAGES, params)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response/>")
    conversation = Conversation.objects.select_related("contact").get()
    assert (conversation.channel, conversation.status) == (Channel.SMS, ConversationStatus.OPEN)
    assert (conversation.contact.phone, conversation.contact.user_id) == (JANE, None)
    message = conversation.messages.get()
    assert (message.sender, message.body) == (Sender.CUSTOMER, "Hi, where is my parcel?")
    stored = MessageText.objects.get(message=message)
    assert (stored.direction, stored.channel, stored.sid, stored.from_address, stored.to_address, stored.status) == (
        Direction.INBOUND,
        Channel.SMS,
        "SM" + "a" * 32,
        JANE,
        SHOP_SMS,
        TextStatus.RECEIVED,
    )
    assert ConversationEvent.objects.filter(
        conversation=conversation, field="status", to_value=ConversationStatus.OPEN
    ).exists()


def test_the_same_message_sid_twice_stores_one_message(client: Client) -> None:
    params = inbound(sid="SM" + "b" * 32)

    first = deliver_twilio_webhook(client, MESSAGES, params)
    second = deliver_twilio_webhook(client, MESSAGES, params)

    assert (first.status_code, second.status_code) == (200, 200)
    assert Message.objects.count() == 1
    assert MessageText.objects.count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    "signature",
    ["", "bm90IGEgc2lnbmF0dXJl", "other-token"],
    ids=["missing", "forged", "another-token"],
)
def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(client: Client, signature: str) -> None:
    if signature == "other-token":
        response = deliver_twilio_webhook(client, MESSAGES, inbound(), token="another-auth-token")
    else:
        response = deliver_twilio_webhook(client, MESSAGES, inbound(), signature=signature)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
    assert not Contact.objects.exists()


def test_a_signature_for_other_fields_is_refused(client: Client) -> None:
    """A valid signature of one webhook does not carry another body (the fields are signed, not just the URL)."""
    params = inbound("Hello")
    signed = text_channel.RequestValidator(STUB_AUTH_TOKEN).compute_signature(
        "https://shop.example.com" + MESSAGES, params
    )

    response = deliver_twilio_webhook(client, MESSAGES, {**params, "Body": "Changed"}, signature=signed)

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_the_signature_is_checked_against_site_url_not_the_request_host(client: Client, settings: Settings) -> None:
    params = inbound()
    signed_for_proxy_address = text_channel.RequestValidator(STUB_AUTH_TOKEN).compute_signature(
        "http://testserver" + MESSAGES, params
    )

    refused = deliver_twilio_webhook(client, MESSAGES, params, signature=signed_for_proxy_address)

    assert refused.status_code == 403
    settings.SITE_URL = "https://shop.example.com/"  # a trailing slash in the setting changes nothing
    assert deliver_twilio_webhook(client, MESSAGES, params).status_code == 200


def test_without_twilio_credentials_the_endpoints_refuse_everything(client: Client, settings: Settings) -> None:
    params = inbound()
    signed = text_channel.RequestValidator(STUB_AUTH_TOKEN).compute_signature(
        "https://shop.example.com" + MESSAGES, params
    )
    settings.TWILIO_AUTH_TOKEN = ""

    response = deliver_twilio_webhook(client, MESSAGES, params, signature=signed)
    status = deliver_twilio_webhook(client, STATUS, {"MessageSid": "SM1", "MessageStatus": "sent"}, signature="x")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "text_messages_disabled"
    assert status.status_code == 403
    assert not Message.objects.exists()


def test_a_whatsapp_message_to_a_store_without_a_whatsapp_sender_is_refused(client: Client, settings: Settings) -> None:
    settings.TWILIO_WHATSAPP_FROM = ""

    response = deliver_twilio_webhook(client, MESSAGES, inbound(sender=f"whatsapp:{JANE}"))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "whatsapp_disabled"
    assert not Message.objects.exists()


def test_the_whatsapp_prefix_makes_a_whatsapp_conversation_for_the_same_contact(client: Client) -> None:
    sms = received(client, inbound("By SMS"))
    whatsapp = received(client, inbound("By WhatsApp", sender=f"whatsapp:{JANE}", ProfileName="Jane"))

    assert whatsapp.conversation.channel == Channel.WHATSAPP
    assert whatsapp.conversation_id != sms.conversation_id
    assert whatsapp.conversation.contact_id == sms.conversation.contact_id
    assert whatsapp.conversation.contact.phone == JANE
    assert MessageText.objects.get(message=whatsapp).from_address == f"whatsapp:{JANE}"


def test_a_second_sms_joins_the_open_conversation(client: Client) -> None:
    first = received(client, inbound("First"))
    second = received(client, inbound("Second"))

    assert second.conversation_id == first.conversation_id
    assert list(first.conversation.messages.values_list("body", flat=True)) == ["First", "Second"]
    assert Contact.objects.count() == 1


def test_an_sms_to_a_snoozed_conversation_wakes_it(client: Client, staff: User) -> None:
    first = received(client, inbound("First"))
    services.snooze(first.conversation, timezone.now() + timedelta(days=1), actor=staff)

    second = received(client, inbound("Any news?"))

    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert second.conversation_id == conversation.pk
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.OPEN, None)
    assert ConversationEvent.objects.filter(
        conversation=conversation, from_value=ConversationStatus.SNOOZED, note=services.CUSTOMER_WROTE
    ).exists()


def test_a_recently_resolved_conversation_reopens_and_an_old_one_does_not(client: Client, staff: User) -> None:
    first = received(client, inbound("First"))
    services.set_status(first.conversation, ConversationStatus.RESOLVED, actor=staff)

    again = received(client, inbound("One more thing"))
    assert again.conversation_id == first.conversation_id
    assert Conversation.objects.get(pk=first.conversation_id).status == ConversationStatus.OPEN

    services.set_status(first.conversation, ConversationStatus.RESOLVED, actor=staff)
    Conversation.objects.filter(pk=first.conversation_id).update(last_message_at=timezone.now() - timedelta(days=8))
    later = received(client, inbound("A new question"))
    assert later.conversation_id != first.conversation_id
    assert later.conversation.status == ConversationStatus.OPEN
    assert Conversation.objects.get(pk=first.conversation_id).status == ConversationStatus.RESOLVED


def test_media_are_kept_as_links(client: Client) -> None:
    media = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    message = received(
        client,
        inbound(
            "Look at the box",
            NumMedia="2",
            MediaUrl0=media,
            MediaContentType0="image/jpeg",
            MediaUrl1="javascript:alert(1)",
        ),
    )

    assert message.body == f"Look at the box\n\nMedia: {media}"
    assert MessageText.objects.get(message=message).media == [media]


# --- Opt-outs ---------------------------------------------------------------------------------------------------


def test_stop_opts_out_and_a_later_reply_is_not_sent_and_says_why(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound("Where is my parcel?"))
    received(client, inbound("Stop"))

    contact = Contact.objects.get(pk=first.conversation.contact_id)
    assert contact.sms_opted_out_at is not None and contact.whatsapp_opted_out_at is None
    assert ConversationEvent.objects.filter(conversation=first.conversation, field="opt_out", to_value="sms").exists()

    reply = agent_replies(first.conversation, staff, "It ships today.", django_capture_on_commit_callbacks)

    assert twilio.messages() == []
    outgoing = MessageText.objects.get(message=reply)
    assert outgoing.status == TextStatus.OPTED_OUT
    assert outgoing.sid is None
    assert "opted out of SMS" in outgoing.error
    assert Message.objects.filter(pk=reply.pk).exists()  # the reply itself is kept
    client.force_login(staff)
    page = client.get(reverse("support:inbox_conversation", args=[first.conversation_id])).content.decode()
    assert "SMS not sent: The customer opted out of SMS" in page
    assert "Opted out of SMS" in page
    # Nor does the retry job try it.
    MessageText.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert text_channel.retry_unsent() == 0
    assert twilio.messages() == []


def test_start_opts_back_in(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound("STOP"))
    received(client, inbound("start"))

    assert Contact.objects.get(pk=first.conversation.contact_id).sms_opted_out_at is None
    agent_replies(first.conversation, staff, "Welcome back.", django_capture_on_commit_callbacks)
    assert [m["Body"] for m in twilio.messages()] == ["Welcome back."]


# --- Sending agents' replies ------------------------------------------------------------------------------------


def test_an_agents_reply_is_sent_through_twilio_and_its_sid_recorded(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound("Where is my parcel?"))

    reply = agent_replies(first.conversation, staff, "It left our warehouse today.", django_capture_on_commit_callbacks)

    [sent] = twilio.messages()
    assert (sent["To"], sent["From"], sent["Body"]) == (JANE, SHOP_SMS, "It left our warehouse today.")
    assert sent["StatusCallback"] == "https://shop.example.com" + STATUS
    outgoing = MessageText.objects.get(message=reply)
    assert outgoing.sid is not None and outgoing.sid.startswith("SM")
    assert (outgoing.direction, outgoing.status, outgoing.attempts) == (Direction.OUTBOUND, TextStatus.QUEUED, 1)
    assert outgoing.sent_at is not None
    assert ConversationEvent.objects.filter(
        conversation=first.conversation, field="text", to_value=TextStatus.QUEUED, note=outgoing.sid
    ).exists()


def test_a_whatsapp_reply_goes_from_the_whatsapp_sender(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound("Hello", sender=f"whatsapp:{JANE}"))

    agent_replies(first.conversation, staff, "Hello Jane!", django_capture_on_commit_callbacks)

    [sent] = twilio.messages()
    assert (sent["To"], sent["From"]) == (f"whatsapp:{JANE}", SHOP_WHATSAPP)


def test_delivery_reports_move_the_reply_forward_only(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    reply = agent_replies(first.conversation, staff, "On its way.", django_capture_on_commit_callbacks)
    sid = MessageText.objects.get(message=reply).sid
    assert sid is not None

    assert report(client, sid, "sent").json() == {"status": "updated"}
    assert report(client, sid, "delivered").json() == {"status": "updated"}
    assert report(client, sid, "delivered").json() == {"status": "unchanged"}  # Twilio repeating itself
    assert report(client, sid, "sent").json() == {"status": "unchanged"}  # a late report
    assert report(client, "SM" + "f" * 32, "delivered").json() == {"status": "unknown"}

    outgoing = MessageText.objects.get(message=reply)
    assert outgoing.status == TextStatus.DELIVERED
    history = list(
        ConversationEvent.objects.filter(conversation=first.conversation, field="text").values_list(
            "from_value", "to_value"
        )
    )
    assert history == [("pending", "queued"), ("queued", "sent"), ("sent", "delivered")]
    client.force_login(staff)
    page = client.get(reverse("support:inbox_conversation", args=[first.conversation_id])).content.decode()
    assert "SMS delivered" in page


def test_an_unsigned_delivery_report_changes_nothing(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    reply = agent_replies(first.conversation, staff, "On its way.", django_capture_on_commit_callbacks)
    sid = MessageText.objects.get(message=reply).sid
    assert sid is not None

    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30003"}
    response = deliver_twilio_webhook(client, STATUS, params, signature="forged")

    assert response.status_code == 403
    assert MessageText.objects.get(message=reply).status == TextStatus.QUEUED


def test_an_undelivered_report_keeps_twilios_error_code(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    reply = agent_replies(first.conversation, staff, "On its way.", django_capture_on_commit_callbacks)
    sid = MessageText.objects.get(message=reply).sid
    assert sid is not None

    report(client, sid, "undelivered", ErrorCode="30003")

    outgoing = MessageText.objects.get(message=reply)
    assert (outgoing.status, outgoing.error) == (TextStatus.UNDELIVERED, "Twilio error 30003")
    # Twilio had it: the retry job does not send it a second time.
    MessageText.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert text_channel.retry_unsent() == 0
    assert len(twilio.messages()) == 1


def test_a_twilio_error_is_recorded_and_sent_again_later(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    refusal = {"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429"}
    twilio.fail_next = (429, {**refusal, "status": 429})

    reply = agent_replies(first.conversation, staff, "We are on it.", django_capture_on_commit_callbacks)

    outgoing = MessageText.objects.get(message=reply)
    assert (outgoing.status, outgoing.attempts, outgoing.sid) == (TextStatus.FAILED, 1, None)
    assert "Twilio error 20429" in outgoing.error and "Too Many Requests" in outgoing.error
    assert ConversationEvent.objects.filter(
        conversation=first.conversation, field="text", to_value=TextStatus.FAILED
    ).exists()
    assert Message.objects.filter(pk=reply.pk).exists()

    MessageText.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert text_channel.retry_unsent() == 1
    assert text_channel.retry_unsent() == 0  # sent once only

    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts, outgoing.error) == (TextStatus.QUEUED, 2, "")
    assert outgoing.sid is not None
    assert [m["Body"] for m in twilio.messages()] == ["We are on it.", "We are on it."]  # refused, then accepted


def test_retries_stop_after_the_last_attempt(
    client: Client, staff: User, settings: Settings, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    settings.TWILIO_SMS_FROM = ""  # the channel was switched off after the message came in

    reply = agent_replies(first.conversation, staff, "Hello.", django_capture_on_commit_callbacks)
    outgoing = MessageText.objects.get(message=reply)
    MessageText.objects.filter(pk=outgoing.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    for _ in range(text_channel.MAX_SEND_ATTEMPTS + 2):
        text_channel.retry_unsent()

    outgoing.refresh_from_db()
    assert (outgoing.status, outgoing.attempts) == (TextStatus.FAILED, text_channel.MAX_SEND_ATTEMPTS)
    assert "not configured" in outgoing.error


def test_twilios_opted_out_error_marks_the_contact(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    twilio.fail_next = (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})

    reply = agent_replies(first.conversation, staff, "Hello.", django_capture_on_commit_callbacks)

    assert MessageText.objects.get(message=reply).status == TextStatus.OPTED_OUT
    assert Contact.objects.get(pk=first.conversation.contact_id).sms_opted_out_at is not None


def test_a_private_note_is_never_sent(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())

    agent_replies(first.conversation, staff, "Customer sounds upset.", django_capture_on_commit_callbacks, private=True)

    assert twilio.messages() == []
    assert not MessageText.objects.filter(direction=Direction.OUTBOUND).exists()


def test_a_too_long_reply_is_refused_with_a_clear_error(
    client: Client, staff: User, twilio: TwilioStub, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = received(client, inbound())
    too_long = "x" * (text_channel.MAX_REPLY_CHARS + 1)

    with pytest.raises(services.ValidationFailed) as refused:
        agent_replies(first.conversation, staff, too_long, django_capture_on_commit_callbacks)

    assert refused.value.status == 422
    assert "at most 1600 characters" in refused.value.message
    assert "this one has 1601" in refused.value.message
    assert "body" in refused.value.fields
    client.force_login(staff)
    response = client.post(
        reverse("support:inbox_action", args=[first.conversation_id, "reply"]), {"body": too_long}, follow=True
    )
    assert "at most 1600 characters" in response.content.decode()
    assert twilio.messages() == []
    assert not Message.objects.filter(sender=Sender.AGENT).exists()
    # Exactly the limit goes.
    agent_replies(first.conversation, staff, "y" * text_channel.MAX_REPLY_CHARS, django_capture_on_commit_callbacks)
    assert len(twilio.messages()[0]["Body"]) == text_channel.MAX_REPLY_CHARS
