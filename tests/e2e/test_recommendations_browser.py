"""A customer who bought a kettle sees what goes with it on the home page, follows a recommendation, and the
click is recorded against the recommendation that was shown."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from patron.accounts.testing import PASSWORD, make_user
from patron.analytics import buffer
from patron.analytics.models import Event, EventName
from patron.catalog.models import Product
from patron.recommendations.training import train
from tests.factories import make_category, make_product
from tests.integration.test_recommendations_serving import bought

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def kitchen(live_server: Any) -> dict[str, Product]:
    buffer.discard()
    category = make_category("Kitchen")
    things = {
        "kettle": ("Stainless Kettle", "A 1.7 litre kettle that boils water fast for tea."),
        "teapot": ("Ceramic Teapot", "Brew loose leaf tea in a glazed ceramic teapot."),
        "cups": ("Tea Cups, Set of Four", "Porcelain cups for tea."),
        "hose": ("Garden Hose", "A 30 m hose for watering the lawn."),
    }
    return {
        key: make_product(name, category=category, description=text, price="24.00", stock=10)
        for key, (name, text) in things.items()
    }


def recorded(name: str, **lookups: object) -> Event | None:
    """An event the page's script sent, once it has reached the server (a click is sent as the page unloads)."""
    for _ in range(100):
        buffer.flush()
        event = Event.objects.filter(name=name, **lookups).first()
        if event is not None:
            return event
        time.sleep(0.1)
    return None


def test_a_buyer_sees_what_goes_with_their_purchase_and_the_click_is_recorded(
    page: Page, kitchen: dict[str, Product], viewport: str, screenshots: Path
) -> None:
    email = f"buyer.{viewport}@example.com"
    buyer = make_user(email)
    kettle, teapot = kitchen["kettle"], kitchen["teapot"]
    # Other shoppers bought the kettle with the teapot; this customer bought the kettle.
    bought(kettle, teapot, email="first@example.com", days_ago=5)
    bought(kettle, teapot, email="second@example.com", days_ago=4)
    bought(kettle, user=buyer, days_ago=2)
    version = train()

    page.goto("/account/login/")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(
        page.get_by_role("navigation", name="Account", exact=True).get_by_role("button", name="Log out")
    ).to_be_visible()

    page.goto("/")
    widget = page.locator('section[data-slot="home_for_you"]')
    widget.scroll_into_view_if_needed()
    expect(widget.get_by_role("heading", name="Recommended for you")).to_be_visible()
    expect(widget).to_have_attribute("data-model", version.label)
    link = widget.locator(f'a[data-product-id="{teapot.pk}"]')
    expect(link).to_be_visible()
    # What the customer already bought is not offered again.
    expect(widget.locator(f'a[data-product-id="{kettle.pk}"]')).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=screenshots / f"recommendations-{viewport}-home.png", full_page=True)
    recommendation_id = widget.get_attribute("data-recommendation-id")

    link.click()
    expect(page.get_by_role("heading", level=1, name="Ceramic Teapot")).to_be_visible()
    # The teapot's page shows what is like it, loaded as its widget scrolls into view.
    page.mouse.wheel(0, 5000)
    similar = page.locator('section[data-slot="product_similar"]')
    similar.scroll_into_view_if_needed()
    expect(similar.get_by_role("heading", name="Similar items")).to_be_visible()
    expect(similar.locator(f'a[data-product-id="{kitchen["cups"].pk}"]')).to_be_visible()
    expect(similar.locator(f'a[data-product-id="{kettle.pk}"]')).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=screenshots / f"recommendations-{viewport}-product.png", full_page=True)
    click = recorded(EventName.RECOMMENDATION_CLICKED, product_id=teapot.pk)
    assert click is not None, "the click never reached the server"
    assert click.user_id == buyer.pk
    assert click.payload["recommendation_id"] == recommendation_id
    assert click.payload["slot"] == "home_for_you" and click.payload["model"] == version.label
    shown = recorded(EventName.RECOMMENDATION_SHOWN, payload__recommendation_id=recommendation_id)
    assert shown is not None, "the widget was never reported as seen"
    assert (shown.user_id, shown.payload["slot"], shown.payload["model"]) == (buyer.pk, "home_for_you", version.label)
    assert teapot.pk in shown.payload["product_ids"]
    assert (
        Event.objects.filter(name=EventName.RECOMMENDATION_SHOWN, payload__recommendation_id=recommendation_id).count()
        == 1
    )
