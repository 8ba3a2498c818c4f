"""The customer dashboard at /account/ and /api/me/dashboard: orders in progress with their latest tracking step,
delivered items waiting for a review, points, and open support requests; only the customer's own, in a fixed
number of queries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from patron.accounts.models import User
from patron.accounts.testing import bearer, make_user
from patron.catalog.models import Product
from patron.loyalty import services as loyalty
from patron.orders import services as orders
from patron.orders.models import Order
from patron.reviews import services as reviews
from patron.reviews.testing import deliver, ship
from patron.success.services import customer_dashboard
from patron.support import services as support
from patron.support.models import Conversation, Sender
from tests.factories import make_category, make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db

API = "/api/me/dashboard"


def text(response: Any) -> str:
    """The page's visible words, with tags and runs of whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def shop() -> dict[str, Product]:
    kitchen = make_category("Kitchen")
    return {
        name: make_product(name, category=kitchen, price="20.00", stock=500)
        for name in ("Copper Kettle", "Blue Mug", "Tea Pot", "Secret Lamp", "Other Kettle")
    }


def paid(user: User, *products: Product) -> Order:
    order = make_order([(product.variants.get(), 1) for product in products], user=user)
    orders.mark_paid(order.pk, pay(order).pk)
    order.refresh_from_db()
    return order


def shipped(user: User, staff: User, product: Product, *, location: str) -> Order:
    order = paid(user, product)
    shipment = ship(order, staff=staff)
    orders.add_tracking_event(shipment, at=timezone.now(), status="in_transit", location=location)
    order.refresh_from_db()
    return order


def conversation_with_reply(user: User, staff: User, *, question: str) -> Conversation:
    conversation = support.start_conversation(user)
    support.add_message(conversation, Sender.CUSTOMER, question)
    support.agent_reply(conversation, "We are on it.", actor=staff)
    return conversation


@pytest.fixture
def story(customer: User, staff: User, shop: dict[str, Product]) -> dict[str, Any]:
    """Ada has a parcel on its way, a delivered order with one item reviewed and one not, points and a question;
    Grace has her own of each, which Ada must never see."""
    on_its_way = shipped(customer, staff, shop["Copper Kettle"], location="Leeds hub")
    delivered = deliver(paid(customer, shop["Blue Mug"], shop["Tea Pot"]), staff=staff)
    reviews.create_review(customer, shop["Tea Pot"].pk, reviews.ReviewInput(rating=5, comment="Pours well."))
    loyalty.adjust_points(customer.pk, 120, reason="Goodwill", actor=staff)
    conversation = conversation_with_reply(customer, staff, question="Where is my kettle?")
    ticket = support.open_ticket(customer, subject="Gift wrap", description="Can you wrap the mug?")

    grace = make_user("grace@example.com")
    graces_order = shipped(grace, staff, shop["Other Kettle"], location="Grace street depot")
    deliver(paid(grace, shop["Secret Lamp"]), staff=staff)
    graces_conversation = conversation_with_reply(grace, staff, question="Grace's question")
    support.open_ticket(grace, subject="Grace's ticket", description="Private")
    return {
        "on_its_way": on_its_way,
        "delivered": delivered,
        "conversation": conversation,
        "ticket": ticket,
        "grace": grace,
        "graces_order": graces_order,
        "graces_conversation": graces_conversation,
    }


def test_the_service_gathers_the_customers_own_orders_reviews_points_and_support(
    customer: User, shop: dict[str, Product], story: dict[str, Any]
) -> None:
    dashboard = customer_dashboard(customer)

    assert (dashboard.orders_count, dashboard.orders_in_progress_count) == (2, 1)
    [order] = dashboard.orders_in_progress
    assert (order.number, order.status, order.status_label) == (story["on_its_way"].number, "shipped", "Shipped")
    assert order.total == story["on_its_way"].total
    assert order.tracking is not None
    assert (order.tracking.status_label, order.tracking.location) == ("In transit", "Leeds hub")

    assert [(item.product_name, item.order_number) for item in dashboard.reviews_waiting] == [
        ("Blue Mug", story["delivered"].number)
    ]

    assert dashboard.loyalty is not None
    assert dashboard.loyalty.points == loyalty.summary(customer).points >= 120

    [conversation] = dashboard.conversations
    assert conversation.id == story["conversation"].pk and conversation.store_replied_last
    [ticket] = dashboard.tickets
    assert (ticket.id, ticket.subject, ticket.store_replied_last) == (story["ticket"].pk, "Gift wrap", False)


def test_a_customers_reply_puts_the_conversation_back_on_the_stores_side(
    customer: User, staff: User, story: dict[str, Any]
) -> None:
    support.add_message(story["conversation"], Sender.CUSTOMER, "Any news?")
    support.add_note(story["conversation"], "Private note", actor=staff)

    [conversation] = customer_dashboard(customer).conversations
    assert not conversation.store_replied_last


def test_the_account_page_shows_each_card_with_links_onward(
    client: Client, customer: User, shop: dict[str, Product], story: dict[str, Any]
) -> None:
    client.force_login(customer)

    response = client.get("/account/")

    assert response.status_code == 200
    html = response.content.decode()
    words = text(response)
    assert "<title>Your account" in html and "<h1>Your account</h1>" in html
    number = story["on_its_way"].number
    assert f'href="{reverse("orders:detail", args=[number])}"' in html
    assert f"Order {number} Shipped" in words and "In transit" in words and "Leeds hub" in words
    assert f'href="{reverse("orders:list")}"' in html and "All your orders (2)" in words
    assert f'href="{reverse("reviews:write", args=[shop["Blue Mug"].slug])}"' in html
    assert "Review Blue Mug" in words and "Review Tea Pot" not in words
    points = loyalty.summary(customer).points
    assert f"{points} points" in words and f'href="{reverse("loyalty:page")}"' in html
    assert f'href="{reverse("support:conversation", args=[story["conversation"].pk])}"' in html
    assert "We replied" in words and "Gift wrap" in words and f'href="{reverse("support:page")}"' in html
    assert "recommendations/widget/?context=account" in html
    assert f'href="{reverse("success:dashboard")}" aria-current="page">Overview' in html


def test_another_customers_data_never_appears(client: Client, customer: User, story: dict[str, Any]) -> None:
    client.force_login(customer)
    page = client.get("/account/").content.decode()
    api = client.get(API, **bearer(customer)).content.decode()

    for secret in (
        story["graces_order"].number,
        "Grace street depot",
        "Secret Lamp",
        "Grace&#x27;s ticket",
        "Grace's ticket",
        f"/support/conversations/{story['graces_conversation'].pk}/",
    ):
        assert secret not in page, secret
        assert secret not in api, secret


def test_staff_see_only_their_own_orders_on_their_dashboard(staff: User, story: dict[str, Any]) -> None:
    dashboard = customer_dashboard(staff)
    assert (dashboard.orders_count, dashboard.orders_in_progress, dashboard.reviews_waiting) == (0, [], [])


def test_the_api_returns_the_same_dashboard(client: Client, customer: User, story: dict[str, Any]) -> None:
    response = client.get(API, **bearer(customer))

    assert response.status_code == 200
    data = response.json()
    assert (data["orders_count"], data["orders_in_progress_count"]) == (2, 1)
    [order] = data["orders_in_progress"]
    assert order["number"] == story["on_its_way"].number and order["status_label"] == "Shipped"
    assert order["tracking"]["status"] == "in_transit" and order["tracking"]["location"] == "Leeds hub"
    assert [item["product_name"] for item in data["reviews_waiting"]] == ["Blue Mug"]
    assert data["loyalty"]["points"] == loyalty.summary(customer).points
    assert [(c["id"], c["store_replied_last"]) for c in data["conversations"]] == [(story["conversation"].pk, True)]
    assert [t["subject"] for t in data["tickets"]] == ["Gift wrap"]


def test_a_new_customer_sees_empty_states_with_a_next_step(client: Client) -> None:
    newcomer = make_user("new@example.com")
    client.force_login(newcomer)

    response = client.get("/account/")

    words = text(response)
    assert "No orders yet. Find something you'll love" in words.replace("&#x27;", "'")
    assert "Nothing to review." in words
    assert "No open questions." in words
    assert "All your orders" not in words
    data = client.get(API, **bearer(newcomer)).json()
    assert data["orders_count"] == 0
    assert data["orders_in_progress"] == data["reviews_waiting"] == data["conversations"] == data["tickets"] == []
    assert data["loyalty"]["points"] == 0


def test_signed_out_visitors_are_sent_to_sign_in_or_refused(client: Client) -> None:
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next=/account/"

    refused = client.get(API)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert client.get(API, HTTP_AUTHORIZATION="Bearer forged").status_code == 401


def test_the_dashboard_runs_a_fixed_number_of_queries_whatever_the_history(
    client: Client,
    customer: User,
    staff: User,
    shop: dict[str, Product],
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    def build(extra: int) -> None:
        for index in range(extra):
            shipped(customer, staff, shop["Copper Kettle"], location=f"Hub {index}")
            deliver(paid(customer, shop["Blue Mug"], shop["Tea Pot"], shop["Secret Lamp"]), staff=staff)
            conversation_with_reply(customer, staff, question=f"Question {index}")
            support.open_ticket(customer, subject=f"Ticket {index}", description="More")

    client.force_login(customer)
    build(1)
    customer_dashboard(customer)  # loads the cached loyalty configuration, which later requests reuse
    with django_assert_max_num_queries(12) as few:
        customer_dashboard(customer)
    build(12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        dashboard = customer_dashboard(customer)
    assert dashboard.orders_count == 26 and len(dashboard.orders_in_progress) == 10
    assert all(order.tracking is not None for order in dashboard.orders_in_progress)
    assert len(dashboard.reviews_waiting) == 3  # one per product, however often it was bought
    assert len(dashboard.conversations) == len(dashboard.tickets) == 5

    with django_assert_max_num_queries(len(few.captured_queries) + 4):
        assert client.get("/account/").status_code == 200
    with django_assert_max_num_queries(len(few.captured_queries) + 4):
        assert client.get(API, **bearer(customer)).status_code == 200


def test_the_profile_form_lives_at_account_profile(client: Client, customer: User) -> None:
    assert reverse("accounts:profile") == "/account/profile/"
    client.force_login(customer)
    page = client.get("/account/profile/")
    assert page.status_code == 200
    assert 'name="email"' in page.content.decode() and "<h1>Your profile</h1>" in page.content.decode()

    saved = client.post("/account/profile/", {"name": "Countess", "email": "ada.l@example.com"})

    assert saved.status_code == 302 and saved["Location"] == "/account/profile/"
    customer.refresh_from_db()
    assert (customer.name, customer.email) == ("Countess", "ada.l@example.com")
    assert client.get("/account/").status_code == 200  # the dashboard, not the form
    assert 'name="email"' not in client.get("/account/").content.decode()
