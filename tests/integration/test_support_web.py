"""The chat widget's fragments, the shopper's support pages and the staff inbox, through real requests."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from patron import events
from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus
from patron.support import chat, services
from patron.support.models import (
    Article,
    Channel,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    Sender,
    Ticket,
    TicketStatus,
)
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant() -> Variant:
    return make_product("Storm Shell Jacket", price="80.00", stock=10).variants.get()


@pytest.fixture
def paid(variant: Variant, customer: User) -> Order:
    order = make_order([(variant, 1)], user=customer)
    return orders.mark_paid(order.pk, pay(order).pk)


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


def handed_over(user: User | None, order: Order | None = None) -> Conversation:
    first = chat.send(user, f"where is my order {order.number}" if order else "hello")
    chat.send(user, "I want to talk to a person", conversation_id=first.conversation.pk, token=first.conversation.token)
    return Conversation.objects.get(pk=first.conversation.pk)


def test_every_storefront_page_has_the_widget_without_anything_personal(client: Client) -> None:
    html = client.get("/").content.decode()
    assert 'id="support-widget"' in html
    assert reverse("support:chat_panel") in html
    assert "csrfmiddlewaretoken" not in html.split('id="support-widget"')[1].split("</div>")[0]


def test_a_guest_chats_through_the_widget_and_sees_an_agents_reply_by_polling(client: Client, staff: User) -> None:
    panel = client.get(reverse("support:chat_panel"))
    assert panel.status_code == 200
    assert "csrfmiddlewaretoken" in panel.content.decode()
    assert "I'm the store's assistant" in panel.content.decode()

    sent = client.post(reverse("support:chat_send"), {"message": "I want to talk to a person"})
    assert "passed our conversation to the team" in sent.content.decode()
    conversation = Conversation.objects.get()
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.channel == Channel.WEB
    last = conversation.messages.order_by("pk").last()
    assert last is not None

    nothing_new = client.get(reverse("support:chat_thread"), {"after": last.pk})
    assert nothing_new.status_code == 204
    services.agent_reply(conversation, "Hello, Grace here. How can I help?", actor=staff)
    services.add_note(conversation, "VIP customer", actor=staff)
    news = client.get(reverse("support:chat_thread"), {"after": last.pk})
    assert news.status_code == 200
    body = news.content.decode()
    assert "Hello, Grace here." in body
    assert "VIP customer" not in body


def test_quick_replies_are_buttons_that_send_their_value(client: Client) -> None:
    response = client.post(reverse("support:chat_send"), {"message": "what's the weather in paris tomorrow"})
    html = response.content.decode()
    assert 'name="quick" value="I want to talk to a person"' in html
    followed = client.post(reverse("support:chat_send"), {"quick": "I want to talk to a person"})
    assert "passed our conversation" in followed.content.decode()


def test_the_chat_refuses_an_empty_message_inline(client: Client) -> None:
    response = client.post(reverse("support:chat_send"), {"message": "   "})
    assert response.status_code == 200
    assert "Write a message first." in response.content.decode()
    assert not Conversation.objects.exists()


def test_polling_a_quiet_conversation_is_cheap(
    client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    client.post(reverse("support:chat_send"), {"message": "hello"})
    last = Message.objects.order_by("pk").last()
    assert last is not None
    with django_assert_max_num_queries(4):
        assert client.get(reverse("support:chat_thread"), {"after": last.pk}).status_code == 204


def test_a_customer_finds_their_conversations_and_tickets_on_the_support_page(
    client: Client, customer: User, paid: Order
) -> None:
    client.force_login(customer)
    client.post(reverse("support:chat_send"), {"message": f"where is my order {paid.number}"})
    client.post(
        reverse("support:open_ticket"),
        {"subject": "Gift wrapping", "description": "Please wrap it", "order_number": paid.number},
    )
    ticket = Ticket.objects.get()
    assert ticket.order == paid

    page = client.get(reverse("support:page")).content.decode()
    assert f"order {paid.number}" in page
    assert "Gift wrapping" in page
    conversation = Conversation.objects.get()
    detail = client.get(reverse("support:conversation", args=[conversation.pk])).content.decode()
    assert f"Order {paid.number} is paid" in detail

    stranger = make_user("eve@example.com")
    client.force_login(stranger)
    assert client.get(reverse("support:conversation", args=[conversation.pk])).status_code == 404
    assert "Gift wrapping" not in client.get(reverse("support:page")).content.decode()


def test_a_guest_writes_to_the_team_from_the_support_page(client: Client) -> None:
    response = client.post(
        reverse("support:open_ticket"),
        {"subject": "Sizes", "description": "Do you have XXL?", "email": "grace@example.com"},
        follow=True,
    )
    assert "Your ticket" in response.content.decode()
    assert Ticket.objects.get().contact.email == "grace@example.com"


def test_articles_have_pages_and_unpublished_ones_do_not(client: Client) -> None:
    assert "30 days" in client.get(reverse("support:article", args=["returns-and-refunds"])).content.decode()
    Article.objects.filter(slug="returns-and-refunds").update(is_published=False)
    assert client.get(reverse("support:article", args=["returns-and-refunds"])).status_code == 404


def test_the_inbox_is_for_staff_only(client: Client, customer: User) -> None:
    assert client.get(reverse("support:inbox")).status_code == 302
    client.force_login(customer)
    response = client.get(reverse("support:inbox"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_inbox_lists_and_filters_with_a_bounded_number_of_queries(
    staff_client: Client, staff: User, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    conversations = [handed_over(None) for _ in range(12)]
    services.set_priority(conversations[0], "urgent", actor=staff)
    services.assign(conversations[1], staff, actor=staff)
    waiting = chat.send(None, "hello").conversation  # still with the assistant

    with django_assert_max_num_queries(8):
        html = staff_client.get(reverse("support:inbox")).content.decode()
    assert html.count('class="card support-inbox__row"') == 12
    assert f'/support/inbox/{waiting.pk}/"' not in html

    urgent = staff_client.get(reverse("support:inbox"), {"priority": "urgent"}).content.decode()
    assert urgent.count("support-inbox__row") == 1
    mine = staff_client.get(reverse("support:inbox"), {"assignee": "me"}).content.decode()
    assert f"/support/inbox/{conversations[1].pk}/" in mine
    assert mine.count("support-inbox__row") == 1
    pending = staff_client.get(reverse("support:inbox"), {"status": "pending"}).content.decode()
    assert f"/support/inbox/{waiting.pk}/" in pending
    api = staff_client.get(reverse("support:inbox"), {"channel": "api"}).content.decode()
    assert "No conversations here." in api


def test_the_conversation_view_shows_the_transcript_customer_orders_intent_and_suggestion(
    staff_client: Client, customer: User, paid: Order, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    conversation = handed_over(customer, paid)
    with django_assert_max_num_queries(20):
        html = staff_client.get(reverse("support:inbox_conversation", args=[conversation.pk])).content.decode()
    assert f"where is my order {paid.number}" in html
    assert "contact_human_agent" in html
    assert f"{paid.number} · Paid" in html
    assert "I&#x27;m looking at your order" in html or "I'm looking at your order" in html
    assert "Cancel order" in html
    assert "Resend invoice" in html
    assert "0 points" in html  # the customer's loyalty status beside the thread


def test_agents_reply_note_assign_prioritise_label_and_resolve(
    staff_client: Client, staff: User, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[events.Event] = []
    monkeypatch.setattr(events, "publish", published.append)
    conversation = handed_over(customer)
    url = lambda action: reverse("support:inbox_action", args=[conversation.pk, action])  # noqa: E731

    staff_client.post(url("reply"), {"body": "On it!"})
    staff_client.post(url("note"), {"body": "check the warehouse"})
    other = make_user("linus@example.com", is_staff=True)
    staff_client.post(url("assign"), {"assignee": str(other.pk)})
    staff_client.post(url("priority"), {"priority": "high"})
    staff_client.post(url("labels"), {"labels": "Delivery, vip"})
    staff_client.post(url("team"), {"team": "Returns"})
    staff_client.post(url("status"), {"status": "resolved"})

    conversation.refresh_from_db()
    reply = conversation.messages.get(body="On it!")
    assert (reply.sender, reply.author, reply.private) == (Sender.AGENT, staff, False)
    assert conversation.messages.get(body="check the warehouse").private is True
    assert conversation.assignee == other
    assert conversation.priority == "high"
    assert conversation.labels == ["delivery", "vip"]
    assert conversation.team == "returns"
    listed = staff_client.get(reverse("support:inbox"), {"status": "all", "team": "returns"}).content.decode()
    assert "returns · #delivery · #vip" in listed
    assert conversation.status == ConversationStatus.RESOLVED
    fields = list(ConversationEvent.objects.filter(conversation=conversation).values_list("field", "to_value"))
    assert ("assignee", staff.email) in fields  # the first reply took it
    assert ("assignee", other.email) in fields
    assert ("status", "resolved") in fields
    assert events.ConversationResolved(conversation_id=conversation.pk) in published

    refused = staff_client.post(url("status"), {"status": "bogus"}, follow=True)
    assert "Unknown status." in refused.content.decode()


def test_agents_cancel_refund_and_resend_through_the_order_services(
    staff_client: Client, customer: User, variant: Variant
) -> None:
    order = make_order([(variant, 2)], user=customer)
    order = orders.mark_paid(order.pk, pay(order).pk)
    conversation = handed_over(customer, order)
    url = lambda action: reverse("support:inbox_action", args=[conversation.pk, action])  # noqa: E731

    staff_client.post(url("refund"), {"amount": "10.00"})
    assert orders.refundable_amount(order) == order.total - Decimal("10.00")
    resent = staff_client.post(url("resend"), follow=True)
    assert "Invoice sent again." in resent.content.decode()
    staff_client.post(url("cancel"))
    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert variant.stock == 10
    assert orders.refundable_amount(order) == 0
    assert order.history.filter(note__startswith="cancelled from support conversation").exists()


def test_the_inbox_thread_polls_cheaply(
    staff_client: Client, customer: User, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    conversation = handed_over(customer)
    last = conversation.messages.order_by("pk").last()
    assert last is not None
    url = reverse("support:inbox_thread", args=[conversation.pk])
    with django_assert_max_num_queries(5):
        assert staff_client.get(url, {"after": last.pk}).status_code == 204
    chat.send(customer, "are you there?", conversation_id=conversation.pk)
    assert "are you there?" in staff_client.get(url, {"after": last.pk}).content.decode()


def test_a_guest_handed_over_is_asked_for_an_email_and_the_team_sees_it(client: Client, staff: User) -> None:
    handed = client.post(reverse("support:chat_send"), {"message": "I want to talk to a person"})
    assert "leave your e-mail address" in handed.content.decode()
    client.post(reverse("support:chat_send"), {"message": "sure, it's grace@example.com"})
    conversation = Conversation.objects.get()
    assert conversation.contact.email == "grace@example.com"
    assert conversation.messages.filter(sender=Sender.ASSISTANT).count() == 1  # people have it now


def test_staff_change_ticket_statuses_in_the_back_office_and_each_change_is_recorded(
    client: Client, customer: User
) -> None:
    superuser = make_user("root@example.com", is_staff=True, is_superuser=True)
    ticket = services.open_ticket(customer, subject="Late parcel", description="Where is it?")
    client.force_login(superuser)

    response = client.post(
        reverse("admin:support_ticket_changelist"),
        {"action": "mark_solved", "_selected_action": [str(ticket.pk)]},
        follow=True,
    )

    assert "1 ticket(s) now solved." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.SOLVED
    assert ticket.closed_at is not None
    assert list(ticket.events.values_list("from_status", "to_status", "actor")) == [
        ("", "open", customer.pk),
        ("open", "solved", superuser.pk),
    ]
