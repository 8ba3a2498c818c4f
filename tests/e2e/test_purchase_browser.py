"""A guest buys in a real browser, on a desktop screen and on a phone: search, product, cart, checkout with a
declined card and a retry, confirmation, and the order page that shows the shipment without a reload."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from patron.accounts.testing import make_user
from patron.catalog.models import Product, Variant
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus
from patron.pricing.models import ShippingMethod, TaxRate
from tests.factories import make_image, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def lamp(live_server: Any, settings: Any, tmp_path: Path, immediate_tasks: None) -> Product:
    settings.MEDIA_ROOT = tmp_path
    # Transactional tests empty the tables, so the rates checkout offers and the UK VAT are set up here.
    ShippingMethod.objects.update_or_create(
        code="standard",
        defaults={
            "name": "Standard delivery",
            "price": Decimal("4.99"),
            "free_over": Decimal("50.00"),
            "min_days": 3,
            "max_days": 5,
            "is_active": True,
        },
    )
    ShippingMethod.objects.update_or_create(
        code="express",
        defaults={"name": "Express delivery", "price": Decimal("14.99"), "min_days": 1, "max_days": 2, "position": 1},
    )
    TaxRate.objects.update_or_create(
        country="GB", region="", defaults={"rate": Decimal("0.20"), "name": "VAT", "applies_to_shipping": True}
    )
    product = make_product("Brass Desk Lamp", price="40.00", stock=4)
    make_image(product, width=120, height=120)
    return product


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def fill_address(page: Page) -> None:
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Address", exact=True).fill("1 Harbour Street")
    page.get_by_label("Postal code").fill("N1 1AA")
    page.get_by_label("City").fill("London")
    page.get_by_label("Country code").fill("GB")
    page.get_by_label("Country code").press("Tab")


def fill_card(page: Page, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    page.get_by_label("Security code").fill("123")


def test_guest_purchase_from_search_to_shipped(page: Page, lamp: Product, viewport: str, screenshots: Path) -> None:
    page.goto("/search/?q=desk+lamp")
    page.get_by_role("link", name=re.compile("Brass Desk Lamp")).first.click()
    expect(page.get_by_role("heading", name="Brass Desk Lamp")).to_be_visible()
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added Brass Desk Lamp")).to_be_visible()
    page.locator("a.mini-cart").click()
    page.get_by_role("button", name="One more Brass Desk Lamp").click()
    expect(page.locator('[data-total="subtotal"]')).to_have_text("$80.00")
    page.get_by_role("link", name="Proceed to checkout").click()

    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    fill_address(page)
    # Standard delivery is free over $50; the country brings UK VAT into the totals, in place.
    expect(page.locator('[data-total="shipping"]')).to_have_text("Free")
    expect(page.locator('[data-total="tax"]')).to_have_text("$16.00")
    page.get_by_label(re.compile("Express delivery")).check()
    expect(page.locator('[data-total="shipping"]')).to_have_text("$14.99")
    # VAT covers shipping: (80.00 + 14.99) * 0.20 = 19.00.
    expect(page.locator('[data-total="total"]')).to_have_text("$113.99")
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"checkout-{viewport}-form.png", full_page=True)

    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Place order and pay").click()
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined")
    order = Order.objects.get()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert Variant.objects.get(product=lamp).stock == 4
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"checkout-{viewport}-declined.png", full_page=True)

    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    expect(page.get_by_text(order.number).first).to_be_visible()
    expect(page.locator("#order-timeline .badge")).to_have_text("Paid")
    assert Variant.objects.get(product=lamp).stock == 2
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"checkout-{viewport}-confirmation.png", full_page=True)

    page.get_by_role("link", name="Follow your order").click()
    expect(page.get_by_role("heading", name=f"Order {order.number}")).to_be_visible()
    page.evaluate("window.orderPageMarker = true")
    staff = make_user("staff@example.com", is_staff=True)
    shipment = orders.add_shipment(order, carrier="Royal Mail", tracking_number="RM123456789GB", actor=staff)
    orders.add_tracking_event(shipment, at=timezone.now(), status="in_transit", location="London hub")
    expect(page.locator("#order-timeline .badge")).to_have_text("Shipped", timeout=15_000)
    expect(page.locator("#order-timeline")).to_contain_text("RM123456789GB")
    expect(page.locator("#order-timeline")).to_contain_text("London hub")
    assert page.evaluate("window.orderPageMarker") is True
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"checkout-{viewport}-shipped.png", full_page=True)


def test_the_last_unit_sold_meanwhile_is_refused(page: Page, lamp: Product, viewport: str, screenshots: Path) -> None:
    page.goto(f"/p/{lamp.slug}/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added Brass Desk Lamp")).to_be_visible()
    page.goto("/checkout/")
    fill_address(page)
    fill_card(page, "4242 4242 4242 4242")
    # Someone else buys the last units while this shopper types.
    Variant.objects.filter(product=lamp).update(stock=0)
    page.get_by_role("button", name="Place order and pay").click()
    expect(page.get_by_role("alert")).to_contain_text("out of stock")
    expect(page.get_by_label("Full name")).to_have_value("Grace Hopper")
    assert not Order.objects.exists()
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"checkout-{viewport}-sold-out.png", full_page=True)
