"""Demo support data: a few conversations waiting in the inbox and tickets, about the demo shoppers' real orders."""

from __future__ import annotations

from patron.orders.models import Order, OrderStatus
from patron.support import services
from patron.support.assistant import knowledge
from patron.support.assistant.nlu import classifier
from patron.support.models import Channel, Priority, Sender

CONVERSATIONS = (
    (
        OrderStatus.SHIPPED,
        "delivery_period",
        [
            (Sender.CUSTOMER, "Hi, my parcel was due yesterday and the tracking hasn't moved since Monday."),
            (Sender.ASSISTANT, "Let me check that order for you."),
            (Sender.CUSTOMER, "I need it for a birthday on Saturday, can someone look into it?"),
        ],
        "the shopper asked for a person",
        Priority.HIGH,
    ),
    (
        OrderStatus.DELIVERED,
        "complaint",
        [
            (Sender.CUSTOMER, "One of the two mugs arrived broken."),
            (Sender.ASSISTANT, "I'm sorry to hear that. I've passed this to the team."),
        ],
        "complaint",
        Priority.NORMAL,
    ),
)
TICKETS = (
    ("Gift wrapping", "Could you gift wrap my order and add a card saying Happy birthday, Sam?"),
    ("Invoice with company name", "Please issue the invoice to Analytical Engines Ltd, VAT GB123456789."),
)


def seed_support() -> str:
    """Starter articles (if missing), conversations in the inbox, tickets and the intent model; says what it added."""
    articles = knowledge.seed_articles()
    conversations = tickets = 0
    for status, intent, messages, reason, priority in CONVERSATIONS:
        order = Order.objects.filter(status=status, user__isnull=False).select_related("user").first()
        if order is None or order.user is None:
            continue
        conversation = services.start_conversation(order.user, channel=Channel.WEB)
        services.link_order(conversation, order)
        for sender, body in messages:
            services.add_message(conversation, sender, body)
        conversation.intent = intent
        conversation.save(update_fields=["intent"])
        services.hand_off(
            conversation,
            reason=reason,
            suggested_reply=f"Hi, thanks for waiting. I'm looking at your order {order.number} now.",
            priority=priority,
        )
        conversations += 1
    for (subject, description), order in zip(
        TICKETS, Order.objects.filter(user__isnull=False).select_related("user")[:2], strict=False
    ):
        assert order.user is not None
        services.open_ticket(order.user, subject=subject, description=description, order_number=order.number)
        tickets += 1
    # Trained now (or loaded from its cache), so the store's first chat message does not wait for it.
    classifier()
    return f"Support: {articles} help articles, {conversations} conversations in the inbox, {tickets} tickets."
