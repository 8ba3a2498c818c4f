"""A shopper's message in, the assistant's reply out: what the web widget and `POST /api/support/chat` both call.

Turns of one conversation are serialized by locking its row, so two quick messages never read the same state.
While people handle a conversation (open or snoozed) the assistant stays quiet; a resolved conversation that the
shopper writes to again goes back to the assistant. Generative phrasing, when configured, happens after the lock
is released, so a slow model server never holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from patron.accounts.models import User
from patron.support import services
from patron.support.assistant import engine, llm
from patron.support.assistant.nlu import extract_entities
from patron.support.models import Channel, Conversation, ConversationStatus, Message, Sender


@dataclass(frozen=True)
class ChatResult:
    conversation: Conversation
    message: Message
    reply: Message | None


def send(
    user: User | None,
    text: str,
    *,
    conversation_id: int | None = None,
    token: str = "",
    channel: str = Channel.WEB,
    email: str = "",
) -> ChatResult:
    text = services.clean_text(text)
    if conversation_id is not None:
        conversation = services.get_conversation(user, conversation_id, token=token)
    else:
        conversation = services.start_conversation(user, channel=channel, email=email)
    services.check_rate(conversation)
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("contact", "order")
            .get(pk=conversation.pk)
        )
        message = services.add_message(locked, Sender.CUSTOMER, text)
        found = extract_entities(text).emails
        if found and locked.contact.user_id is None and not locked.contact.email:
            # A guest leaving an address for the team's answer, whoever handles the conversation.
            services.remember_email(locked.contact, found[0])
        if locked.status in services.OPEN_FOR_PEOPLE:
            return ChatResult(locked, message, None)
        if locked.status == ConversationStatus.RESOLVED:
            services.set_status(locked, ConversationStatus.PENDING, actor=None, note="the shopper wrote again")
        outcome = engine.respond(locked, user, text)
    reply = outcome.reply
    body = llm.phrase(reply.text, reply.facts, text) or reply.text
    answer = services.add_message(
        locked,
        Sender.ASSISTANT,
        body,
        intent=outcome.intent,
        confidence=outcome.confidence,
        data=reply.data(),
    )
    return ChatResult(locked, message, answer)
