"""Analytics in a real browser: nothing reaches Google before the visitor accepts; after accepting, the product view
and an add to cart reach GA4's dataLayer; the page's own reports (product view, a recommendation seen and followed)
land in the event table. Google's script is a stub served by page.route (the network is closed)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect
from pytest_django import Settings

from patron.analytics import buffer
from patron.analytics.models import Event, EventName
from patron.analytics.visitor import COOKIE_NAME
from patron.catalog.models import Product
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GA4_ID = "G-TEST12345"
GOOGLE = re.compile(r"^https://([a-z0-9-]+\.)*(google|googletagmanager|google-analytics|doubleclick)\.[a-z.]+/")
GTAG_STUB = "window.gtagStubLoaded = true;"
REPORT = "/api/analytics/events"
PUSHED_EVENTS = "() => window.dataLayer.filter((entry) => entry[0] === 'event').map((entry) => [entry[1], entry[2]])"
WIDGET = """(link) => {
  const widget = document.createElement('section');
  widget.dataset.recommendationId = 'b7f1e2c4';
  widget.dataset.slot = 'product_similar';
  widget.dataset.model = 'itemknn@3';
  widget.innerHTML = `<h2>You may also like</h2><a href="${link.href}" data-product-id="${link.id}">${link.name}</a>`;
  document.querySelector('main').prepend(widget);
  widget.dispatchEvent(new CustomEvent('htmx:load', {bubbles: true}));
}"""


@pytest.fixture(autouse=True)
def empty_buffer() -> Iterator[None]:
    buffer.discard()
    yield
    buffer.discard()


@pytest.fixture
def kettle(live_server: Any, settings: Settings, tmp_path: Path) -> Product:
    settings.MEDIA_ROOT = tmp_path
    settings.GA4_MEASUREMENT_ID = GA4_ID
    return make_product("Steel Kettle", brand="Brewer", price="45.00", stock=4)


@pytest.fixture
def google(page: Page) -> list[str]:
    """Every request the page makes to Google, answered by a stub of gtag.js."""
    seen: list[str] = []

    def answer(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="application/javascript", body=GTAG_STUB)

    page.context.route(GOOGLE, answer)
    return seen


def stored(name: str, count: int = 1) -> list[Event]:
    """The stored events of `name`, once `count` of them have reached the server (a report sent as the page
    unloads may still be on its way) or after ten seconds."""
    for _ in range(100):
        buffer.flush()
        events = list(Event.objects.filter(name=name).order_by("pk"))
        if len(events) >= count:
            break
        time.sleep(0.1)
    return events


def test_ga4_waits_for_consent_then_hears_the_view_and_the_add_to_cart(
    page: Page, kettle: Product, google: list[str], viewport: str, screenshots: Path
) -> None:
    with page.expect_response(lambda response: REPORT in response.url) as report:
        page.goto(f"/p/{kettle.slug}/")
    assert report.value.status == 202
    banner = page.get_by_role("region", name="Cookies and analytics")
    expect(banner).to_be_visible()
    expect(page.get_by_role("button", name="Add to cart")).to_be_visible()
    page.screenshot(path=screenshots / f"analytics-{viewport}-consent.png", full_page=False)

    # Before consent: Consent Mode's all-denied default, no event, and no request to Google.
    assert google == []
    assert page.evaluate(PUSHED_EVENTS) == []
    default = page.evaluate("() => Array.from(window.dataLayer[0])")
    assert default[:2] == ["consent", "default"] and set(default[2].values()) == {"denied"}

    # Accepting from the keyboard loads gtag.js and hands it this page's view_item.
    accept = page.get_by_role("button", name="Accept")
    accept.focus()
    page.keyboard.press("Enter")
    expect(banner).to_be_hidden()
    page.wait_for_function("() => window.gtagStubLoaded === true")
    assert google == [f"https://www.googletagmanager.com/gtag/js?id={GA4_ID}"]
    pushed = page.evaluate(PUSHED_EVENTS)
    assert [name for name, _ in pushed] == ["view_item"]
    assert pushed[0][1]["items"][0] == {
        "item_id": str(kettle.pk),
        "item_name": "Steel Kettle",
        "price": 45.0,
        "item_brand": "Brewer",
        "item_category": kettle.category.name,
        "item_variant": kettle.variants.get().sku,
        "quantity": 1,
    }

    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added Steel Kettle (quantity 2) to your cart.")).to_be_visible()
    page.wait_for_function("() => window.dataLayer.some((entry) => entry[0] === 'event' && entry[1] === 'add_to_cart')")
    added = [params for name, params in page.evaluate(PUSHED_EVENTS) if name == "add_to_cart"]
    item = {key: value for key, value in pushed[0][1]["items"][0].items() if key != "item_category"}
    assert added == [{"currency": "USD", "value": 90.0, "items": [{**item, "quantity": 2}]}]

    # The choice is remembered: the next page loads gtag.js at once, without asking again.
    with page.expect_response(lambda response: REPORT in response.url):
        page.reload()
    page.wait_for_function("() => window.gtagStubLoaded === true")
    expect(banner).to_be_hidden()

    # The page's own report of the view reached the event table, for this browser's visitor id.
    cookie = next(item for item in page.context.cookies() if item["name"] == COOKIE_NAME)
    views = stored(EventName.PRODUCT_VIEWED, count=2)
    assert [event.product_id for event in views] == [kettle.pk, kettle.pk]
    assert {event.visitor_id for event in views} == {cookie["value"].split(":")[0]}
    (added_event,) = stored(EventName.CART_ITEM_ADDED)
    assert added_event.visitor_id == views[0].visitor_id


def test_declining_keeps_google_out_and_recommendations_are_still_reported(
    page: Page, kettle: Product, google: list[str]
) -> None:
    other = make_product("Glass Teapot", price="25.00", stock=3)
    page.goto(f"/p/{kettle.slug}/")
    page.get_by_role("button", name="Decline").click()
    expect(page.get_by_role("region", name="Cookies and analytics")).to_be_hidden()
    with page.expect_response(lambda response: REPORT in response.url and response.request.method == "POST"):
        page.reload()
    expect(page.get_by_role("region", name="Cookies and analytics")).to_be_hidden()

    # A recommendation widget arriving by htmx is reported once seen, and again when followed.
    link = {"href": f"/p/{other.slug}/", "id": other.pk, "name": other.name}
    with page.expect_request(
        lambda request: REPORT in request.url and "recommendation_shown" in (request.post_data or "")
    ):
        page.evaluate(WIDGET, link)
    with page.expect_request(
        lambda request: REPORT in request.url and "recommendation_clicked" in (request.post_data or "")
    ):
        page.get_by_role("link", name="Glass Teapot").click()
    expect(page.get_by_role("heading", name="Glass Teapot")).to_be_visible()
    page.wait_for_load_state()

    assert google == []
    assert page.evaluate(PUSHED_EVENTS) == []
    (shown,) = stored(EventName.RECOMMENDATION_SHOWN)
    assert shown.payload == {
        "recommendation_id": "b7f1e2c4",
        "slot": "product_similar",
        "model": "itemknn@3",
        "product_ids": [other.pk],
    }
    (clicked,) = stored(EventName.RECOMMENDATION_CLICKED)
    assert clicked.product_id == other.pk
    assert clicked.visitor_id == shown.visitor_id
