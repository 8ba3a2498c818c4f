"""Whole conversations through /api/support against real orders: tracking, cancelling with a confirmation, a guest
who must know the order's e-mail, hand-off to the inbox, tickets, and who may read what."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from patron.accounts.models import User
from patron.accounts.testing import bearer, make_user
from patron.catalog.models import Variant
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus, ReturnRequest, TrackingStatus
from patron.payments.models import PaymentStatus
from patron.payments.providers import CardInput
from patron.payments.services import PaymentDeclined, start_payment
from patron.support import services
from patron.support.models import Conversation, ConversationEvent, ConversationStatus, Sender, Ticket
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant() -> Variant:
    return make_product("Storm Shell Jacket", price="80.00", stock=10).variants.get()


def paid_order(variant: Variant, user: User | None, *, email: str = "", quantity: int = 2) -> Order:
    order = make_order([(variant, quantity)], user=user, email=email)
    return orders.mark_paid(order.pk, pay(order).pk)


def shipped_order(variant: Variant, user: User | None, staff: User, *, email: str = "") -> Order:
    order = paid_order(variant, user, email=email)
    shipment = orders.add_shipment(order, carrier="Parcelo", tracking_number="PX123", actor=staff)
    orders.add_tracking_event(
        shipment,
        at=timezone.now() - timedelta(hours=2),
        status=TrackingStatus.IN_TRANSIT,
        location="Leeds hub",
    )
    order.refresh_from_db()
    return order


def say(client: Client, text: str, conversation: int | None = None, **headers: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"message": text}
    if conversation is not None:
        payload["conversation_id"] = conversation
    response = client.post("/api/support/chat", payload, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_tracking_answers_with_the_real_status_and_tracking_step(
    client: Client, customer: User, staff: User, variant: Variant
) -> None:
    order = shipped_order(variant, customer, staff)

    answer = say(client, f"Where is my order {order.number}?", **bearer(customer))

    reply = answer["reply"]
    assert reply["intent"] == "track_order"
    assert f"Order {order.number} is shipped" in reply["body"]
    assert "In transit in Leeds hub" in reply["body"]
    assert "PX123" in reply["body"]
    assert {"name": "track_order", "status": "done", "order": order.number} in reply["actions"]
    assert Conversation.objects.get(pk=answer["conversation_id"]).order == order


def test_cancel_needs_a_yes_then_cancels_restores_stock_and_refunds(
    client: Client, customer: User, variant: Variant
) -> None:
    order = paid_order(variant, customer)
    variant.refresh_from_db()
    assert variant.stock == 8
    auth = bearer(customer)

    first = say(client, f"I want to cancel order {order.number}", **auth)
    proposal = first["reply"]
    assert proposal["intent"] == "cancel_order"
    assert {"name": "cancel_order", "status": "proposed", "order": order.number} in proposal["actions"]
    assert [quick["value"] for quick in proposal["quick_replies"]] == ["Yes", "No"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID  # nothing happens before the shopper confirms

    done = say(client, "Yes", first["conversation_id"], **auth)["reply"]

    assert f"order {order.number} is cancelled" in done["body"]
    assert "$165.00 is refunded" in done["body"]
    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert variant.stock == 10
    payment = order.payments.get()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.amount_refunded == order.total


def test_saying_no_changes_nothing(client: Client, customer: User, variant: Variant) -> None:
    order = paid_order(variant, customer)
    auth = bearer(customer)
    first = say(client, f"please cancel order {order.number}", **auth)
    answer = say(client, "No, keep it", first["conversation_id"], **auth)["reply"]
    assert "haven't changed anything" in answer["body"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_a_customer_with_several_orders_picks_one_from_buttons(
    client: Client, customer: User, staff: User, variant: Variant
) -> None:
    older = paid_order(variant, customer, quantity=1)
    newer = shipped_order(variant, customer, staff)
    auth = bearer(customer)

    question = say(client, "where is my package", **auth)
    choices = [quick["value"] for quick in question["reply"]["quick_replies"]]
    assert choices == [newer.number, older.number]

    answer = say(client, older.number, question["conversation_id"], **auth)["reply"]
    assert f"Order {older.number} is paid" in answer["body"]


def test_a_guest_with_a_wrong_email_learns_nothing_about_the_order(
    client: Client, staff: User, variant: Variant
) -> None:
    order = shipped_order(variant, None, staff, email="grace@example.com")

    first = say(client, f"where is my order {order.number}")
    assert "e-mail address" in first["reply"]["body"]
    headers = {"HTTP_X_SUPPORT_TOKEN": first["token"]}
    wrong = say(client, "it's mallory@example.com", first["conversation_id"], **headers)["reply"]["body"]

    for detail in ("shipped", "Parcelo", "PX123", "Leeds", "Storm Shell", "80.00", "grace"):
        assert detail not in wrong
    # The same answer as for an order number that does not exist at all.
    other = say(client, "where is my order ZZZZ999999")
    unknown = say(client, "mallory@example.com", other["conversation_id"], HTTP_X_SUPPORT_TOKEN=other["token"])
    assert unknown["reply"]["body"] == wrong

    right = say(client, f"{order.number} grace@example.com", first["conversation_id"], **headers)["reply"]["body"]
    assert f"Order {order.number} is shipped" in right
    assert "Leeds hub" in right


def test_a_guest_cannot_cancel_but_is_offered_a_person(client: Client, variant: Variant) -> None:
    order = paid_order(variant, None, email="grace@example.com")
    answer = say(client, f"cancel order {order.number} grace@example.com")["reply"]
    assert "signed in" in answer["body"]
    assert answer["quick_replies"][0]["label"] == "Talk to a person"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_asking_for_a_person_puts_the_conversation_in_the_inbox_with_its_transcript(
    client: Client, customer: User, staff: User, variant: Variant
) -> None:
    order = shipped_order(variant, customer, staff)
    auth = bearer(customer)
    first = say(client, f"where is order {order.number}", **auth)

    handed = say(client, "I want to talk to a person", first["conversation_id"], **auth)

    assert handed["status"] == "open"
    assert handed["handed_off"] is True
    assert "passed our conversation to the team" in handed["reply"]["body"]
    conversation = services.inbox(staff, services.InboxFilters()).get()
    assert conversation.pk == first["conversation_id"]
    assert conversation.intent == "contact_human_agent"
    assert conversation.order == order
    assert order.number in conversation.suggested_reply
    transcript = [(m.sender, m.body) for m in conversation.messages.order_by("pk")]
    assert transcript[0] == (Sender.CUSTOMER, f"where is order {order.number}")
    assert transcript[2] == (Sender.CUSTOMER, "I want to talk to a person")
    assert ConversationEvent.objects.filter(
        conversation=conversation, field="status", from_value="pending", to_value="open"
    ).exists()

    # While people have it, the assistant stays quiet; the agent's reply reaches the shopper.
    quiet = say(client, "thanks, waiting", first["conversation_id"], **auth)
    assert quiet["reply"] is None
    services.agent_reply(conversation, "Hi Ada, it arrives tomorrow.", actor=staff)
    services.add_note(conversation, "customer is anxious", actor=staff)
    read = client.get(f"/api/support/conversations/{conversation.pk}", **auth).json()
    bodies = [message["body"] for message in read["messages"]]
    assert bodies[-1] == "Hi Ada, it arrives tomorrow."
    assert "customer is anxious" not in bodies


def test_strong_negative_sentiment_escalates_with_high_priority(client: Client, customer: User) -> None:
    answer = say(client, "This is the WORST service EVER, absolutely useless and pathetic!!", **bearer(customer))
    conversation = Conversation.objects.get(pk=answer["conversation_id"])
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.priority == "high"
    assert conversation.handoff_reason == "strong negative sentiment"


def test_out_of_scope_is_refused_and_a_person_offered(client: Client) -> None:
    answer = say(client, "what's the weather like in paris tomorrow")["reply"]
    assert answer["intent"] == "out_of_scope"
    assert "not something I can help with" in answer["body"]
    assert answer["quick_replies"] == [{"label": "Talk to a person", "value": "I want to talk to a person"}]


def test_repeated_failures_hand_the_conversation_over(client: Client) -> None:
    first = say(client, "purple monkey dishwasher")
    headers = {"HTTP_X_SUPPORT_TOKEN": first["token"]}
    say(client, "blorp zzz qux", first["conversation_id"], **headers)
    third = say(client, "asdf qwerty", first["conversation_id"], **headers)
    assert third["handed_off"] is True
    conversation = Conversation.objects.get(pk=first["conversation_id"])
    assert "did not understand 3 messages" in conversation.handoff_reason


def test_product_search_answers_from_the_catalog_with_price_and_stock(client: Client) -> None:
    make_product("Waterproof Trail Jacket", price="89.00", stock=3)
    make_product("Waterproof Expedition Jacket", price="240.00", stock=2)
    answer = say(client, "do you have a waterproof jacket under $100?")["reply"]
    assert [product["name"] for product in answer["products"]] == ["Waterproof Trail Jacket"]
    assert answer["products"][0]["stock"] == "Only 3 left"
    assert "Waterproof Trail Jacket: $89.00" in answer["body"]


def test_policy_questions_cite_the_article(client: Client) -> None:
    answer = say(client, "what is your return policy?")["reply"]
    assert answer["citations"][0]["title"] == "Returns and refunds"
    assert "30 days" in answer["body"]


def test_a_return_of_a_delivered_order(client: Client, customer: User, staff: User, variant: Variant) -> None:
    order = shipped_order(variant, customer, staff)
    orders.transition(order, OrderStatus.DELIVERED, actor=staff)
    auth = bearer(customer)
    first = say(client, f"I want to return order {order.number}", **auth)
    assert "Start a return of 2 x Storm Shell Jacket" in first["reply"]["body"]
    done = say(client, "yes", first["conversation_id"], **auth)["reply"]
    assert done["actions"][0]["status"] == "done"
    assert ReturnRequest.objects.get(order=order).lines[0]["quantity"] == 2


def test_a_new_address_before_shipment(client: Client, customer: User, variant: Variant) -> None:
    order = paid_order(variant, customer)
    auth = bearer(customer)
    first = say(client, f"I need to change the shipping address of order {order.number}", **auth)
    conversation = first["conversation_id"]
    proposal = say(client, "Ada King, 12 Ockham Park, Ripley, GU23 6NG, GB", conversation, **auth)["reply"]
    assert proposal["actions"][0]["status"] == "proposed"
    say(client, "yes please", conversation, **auth)
    order.refresh_from_db()
    assert order.shipping_address["line1"] == "12 Ockham Park"


def test_refund_status_reports_what_was_refunded(client: Client, customer: User, staff: User, variant: Variant) -> None:
    order = shipped_order(variant, customer, staff)
    orders.refund_order(order, Decimal("30.00"), actor=staff)
    answer = say(client, f"has my refund for order {order.number} been processed?", **bearer(customer))["reply"]
    assert "$30.00 has been refunded" in answer["body"]


def test_shoppers_only_see_their_own_conversations_and_tickets(
    client: Client, customer: User, variant: Variant
) -> None:
    mine = say(client, "hello", **bearer(customer))
    stranger = make_user("eve@example.com")
    other_auth = bearer(stranger)

    assert client.get(f"/api/support/conversations/{mine['conversation_id']}", **other_auth).status_code == 404
    assert client.get(f"/api/support/conversations/{mine['conversation_id']}").status_code == 404
    assert client.get("/api/support/conversations", **other_auth).json() == []
    listed = client.get("/api/support/conversations", **bearer(customer)).json()
    assert [item["id"] for item in listed] == [mine["conversation_id"]]
    # Someone else's conversation cannot be continued either.
    response = client.post(
        "/api/support/chat",
        {"message": "hi", "conversation_id": mine["conversation_id"]},
        content_type="application/json",
        **other_auth,
    )
    assert response.status_code == 404

    order = paid_order(variant, customer)
    created = client.post(
        "/api/support/ticket",
        {"subject": "Gift wrap", "description": "Can you wrap it?", "order_number": order.number},
        content_type="application/json",
        **bearer(customer),
    )
    assert created.status_code == 201
    assert created.json()["order_number"] == order.number
    assert client.get(f"/api/support/tickets/{created.json()['id']}", **other_auth).status_code == 404
    refused = client.post(
        "/api/support/ticket",
        {"subject": "Mine now", "description": "?", "order_number": order.number},
        content_type="application/json",
        **other_auth,
    )
    assert refused.status_code == 404
    assert Ticket.objects.count() == 1
    assert Ticket.objects.get().events.get().to_status == "open"


def test_guests_open_tickets_with_an_email(client: Client) -> None:
    missing = client.post(
        "/api/support/ticket", {"subject": "Hi", "description": "Question"}, content_type="application/json"
    )
    assert missing.status_code == 422
    created = client.post(
        "/api/support/ticket",
        {"subject": "Hi", "description": "Question", "email": "grace@example.com"},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert Ticket.objects.get().contact.email == "grace@example.com"


def test_bad_input_is_a_4xx(client: Client) -> None:
    assert client.post("/api/support/chat", {"message": ""}, content_type="application/json").status_code == 422
    long = {"message": "x" * 2001}
    assert client.post("/api/support/chat", long, content_type="application/json").status_code == 422
    assert client.post("/api/support/chat", "nope", content_type="application/json").status_code in (400, 422)
    assert client.get("/api/support/conversations").status_code == 401


def test_a_declined_payment_is_explained_with_a_link_to_retry(client: Client, customer: User, variant: Variant) -> None:
    order = make_order([(variant, 1)], user=customer)
    broke = CardInput(number="4000000000009995", exp_month=12, exp_year=2099, cvc="123")
    with pytest.raises(PaymentDeclined):
        start_payment(order, card=broke, idempotency_key=f"declined-{order.number}")

    answer = say(client, "my card was declined, why?", **bearer(customer))["reply"]

    assert answer["intent"] == "payment_issue"
    assert "insufficient funds" in answer["body"]
    retry = answer["actions"][0]["url"]
    assert retry.startswith(f"/checkout/pay/{order.number}/?token=")
    assert client.get(retry).status_code == 200
