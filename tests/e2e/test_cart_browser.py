"""A shopper fills and edits the cart in a real browser, on a desktop screen and on a phone."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from patron.catalog.models import Product
from patron.pricing.models import ShippingMethod
from tests.factories import make_image, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shirt(live_server: Any, settings: Any, tmp_path: Path) -> Product:
    settings.MEDIA_ROOT = tmp_path
    # Transactional tests empty the tables, so the rate the cart is priced with is set up here.
    ShippingMethod.objects.update_or_create(
        code="standard",
        defaults={"name": "Standard", "price": Decimal("4.99"), "free_over": Decimal("50.00"), "is_active": True},
    )
    product = make_product("Linen Shirt", price="30.00", stock=5, options=[{"size": "S"}, {"size": "M"}, {"size": "L"}])
    make_image(product, width=120, height=120)
    return product


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_add_change_and_remove_without_reloading(page: Page, shirt: Product, viewport: str, screenshots: Path) -> None:
    count = page.locator("#mini-cart-count")
    page.goto(f"/p/{shirt.slug}/")
    add_button = page.get_by_role("button", name="Add to cart")
    expect(add_button).to_be_visible()
    expect(count).to_have_text("")

    page.locator("label.option-label", has_text="M").click()
    page.get_by_label("Quantity").fill("2")
    add_button.click()
    expect(page.get_by_text("Added Linen Shirt (quantity 2) to your cart.")).to_be_visible()
    expect(count).to_have_text(re.compile(r"^2\s*items in your cart\s*$"))
    expect(count).to_have_attribute("aria-live", "polite")
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"cart-{viewport}-added.png", full_page=True)

    page.locator("a.mini-cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    line = page.locator(".cart-line")
    expect(line).to_have_count(1)
    expect(line).to_contain_text("Size: M")
    expect(line).to_contain_text("$30.00 each")
    expect(page.locator('[data-total="subtotal"]')).to_have_text("$60.00")
    expect(page.locator('[data-total="total"]')).to_have_text("$60.00")
    # Changes below happen in place: a reload would drop this marker.
    page.evaluate("window.cartPageMarker = true")

    page.get_by_role("button", name="One more Linen Shirt").click()
    expect(page.get_by_label("Quantity of Linen Shirt")).to_have_value("3")
    expect(page.locator('[data-total="subtotal"]')).to_have_text("$90.00")
    expect(page.locator("[data-line-total]")).to_have_text("$90.00")
    expect(count).to_have_text(re.compile(r"^3\s*items"))
    expect(page.locator("#cart-status")).to_have_text("Linen Shirt: quantity 3.")

    quantity = page.get_by_label("Quantity of Linen Shirt")
    quantity.fill("1")
    quantity.press("Tab")
    expect(page.locator('[data-total="subtotal"]')).to_have_text("$30.00")
    # Below the free-shipping threshold the standard rate shows up in the total.
    expect(page.locator('[data-total="total"]')).to_have_text("$34.99")
    expect(count).to_have_text(re.compile(r"^1\s*item in"))
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"cart-{viewport}-cart.png", full_page=True)

    page.get_by_role("button", name="Remove Linen Shirt").click()
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    expect(count).to_have_text("")
    assert page.evaluate("window.cartPageMarker") is True
