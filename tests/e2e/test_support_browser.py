"""On a phone, a guest opens the help widget, asks where their order is and gets its live status, asks for a
person, and sees the reply an agent sends from the staff inbox appear without reloading."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from patron.accounts.testing import PASSWORD, make_user
from patron.orders import services as orders
from patron.orders.models import Order, TrackingStatus
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def viewport() -> str:
    return "phone"


@pytest.fixture
def shipped(live_server: Any) -> Order:
    staff = make_user("grace@shop.example", name="Grace Hopper", is_staff=True)
    variant = make_product("Storm Shell Jacket", price="80.00", stock=5).variants.get()
    order = make_order([(variant, 1)], email="lin@example.com")
    order = orders.mark_paid(order.pk, pay(order).pk)
    shipment = orders.add_shipment(order, carrier="Parcelo", tracking_number="PX77", actor=staff)
    orders.add_tracking_event(
        shipment, at=timezone.now() - timedelta(hours=1), status=TrackingStatus.OUT_FOR_DELIVERY, location="Leeds"
    )
    return order


def send(page: Page, text: str) -> None:
    field = page.get_by_label("Your message")
    field.fill(text)
    field.press("Enter")


def test_a_guest_gets_their_order_status_then_a_person_answers_live(
    page: Page, shipped: Order, browser: Any, live_server: Any, screenshots: Path
) -> None:
    page.goto("/")
    launcher = page.get_by_role("button", name="Help")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Help")).to_be_visible()
    expect(page.get_by_label("Your message")).to_be_focused()
    thread = page.get_by_role("log", name="Conversation")

    send(page, f"Where is my order {shipped.number}?")
    expect(thread).to_contain_text("e-mail address you used")
    send(page, "lin@example.com")
    expect(thread).to_contain_text(f"Order {shipped.number} is shipped")
    expect(thread).to_contain_text("Out for delivery in Leeds")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=screenshots / "support-phone-tracking.png")

    send(page, "I want to talk to a person")
    expect(thread).to_contain_text("passed our conversation to the team")

    agent = browser.new_context(base_url=live_server.url)
    inbox = agent.new_page()
    inbox.goto("/admin/login/?next=/support/inbox/")
    inbox.get_by_label("Email").fill("grace@shop.example")
    inbox.get_by_label("Password").fill(PASSWORD)
    inbox.get_by_role("button", name="Log in").click()
    inbox.get_by_role("link", name=re.compile("lin@example.com")).click()
    expect(inbox.get_by_text("Detected intent")).to_contain_text("contact_human_agent")
    inbox.get_by_label("Reply to the customer").fill("Hi, Grace here: the courier is two streets away.")
    inbox.get_by_role("button", name="Send reply").click()
    expect(inbox.get_by_role("log", name="Conversation")).to_contain_text("two streets away")
    inbox.screenshot(path=screenshots / "support-inbox-conversation.png", full_page=True)
    agent.close()

    expect(thread).to_contain_text("Hi, Grace here: the courier is two streets away.")
    page.screenshot(path=screenshots / "support-phone-agent-reply.png")

    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Help")).to_be_hidden()
    expect(launcher).to_be_focused()
