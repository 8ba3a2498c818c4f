"""A customer's loyalty journey in a real browser, on a desktop screen and on a phone: the points a product earns,
a purchase whose points wait as pending, the return window passing, a reward redeemed and applied at checkout in
one click, the discount on the order, and both the earning and the redemption in the points history."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user
from patron.catalog.models import Product
from patron.loyalty import services
from patron.loyalty.models import EarningRule, EntryKind, PointsEntry, Reward, RuleKind
from patron.orders.models import Order, OrderStatus
from patron.pricing.models import DiscountKind, ShippingMethod
from tests.factories import make_image, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def lamp(live_server: Any, settings: Any, tmp_path: Path, immediate_tasks: None) -> Product:
    settings.MEDIA_ROOT = tmp_path
    # Transactional tests empty the tables, so the shipping rate and the program are set up here.
    ShippingMethod.objects.update_or_create(
        code="standard", defaults={"name": "Standard delivery", "price": Decimal("4.99"), "is_active": True}
    )
    EarningRule.objects.create(name="Points on every purchase", kind=RuleKind.SPEND, points=10)
    Reward.objects.create(name="$5 off", kind=DiscountKind.FIXED, value=Decimal(5), points_cost=300)
    product = make_product("Brass Desk Lamp", price="40.00", stock=4)
    make_image(product, width=120, height=120)
    return product


@pytest.fixture
def ada(lamp: Product) -> User:
    return make_user("ada@example.com")


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def sign_in(page: Page, next_url: str) -> None:
    page.goto(f"/account/login/?next={next_url}")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def buy_the_lamp(page: Page, lamp: Product) -> None:
    page.goto(f"/p/{lamp.slug}/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added Brass Desk Lamp")).to_be_visible()
    page.goto("/checkout/")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("1 Analytical Way")
    page.get_by_label("Postal code").fill("N1 1AA")
    page.get_by_label("City").fill("London")
    page.get_by_label("Country code").fill("GB")
    page.get_by_label("Country code").press("Tab")
    # The country re-prices the summary in place; a reward applied meanwhile would be swapped out by that answer.
    expect(page.locator(".htmx-request")).to_have_count(0)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    page.get_by_label("Security code").fill("123")


def test_earn_wait_redeem_and_spend_at_checkout(
    page: Page, lamp: Product, ada: User, viewport: str, screenshots: Path
) -> None:
    sign_in(page, f"/p/{lamp.slug}/")
    expect(page.locator("#loyalty-estimate")).to_have_text("Earn 400 points")
    assert fits_the_screen(page)

    buy_the_lamp(page, lamp)
    expect(page.locator('[data-loyalty="earn"]')).to_have_text("You earn 400 points with this order.")
    page.get_by_role("button", name="Place order and pay").click()
    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    first = Order.objects.get()

    page.get_by_role("link", name="Rewards", exact=True).click()
    expect(page.locator('[data-loyalty="balance"]')).to_have_text("0")
    expect(page.locator('[data-loyalty="pending"]')).to_contain_text("400 points pending")
    page.screenshot(path=screenshots / f"loyalty-{viewport}-pending.png", full_page=True)

    # The return window passes: the daily job makes the points available.
    assert services.release_pending_points(timezone.now() + timedelta(days=61)) == 1
    page.reload()
    expect(page.locator('[data-loyalty="balance"]')).to_have_text("400")
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"loyalty-{viewport}-available.png", full_page=True)

    buy_the_lamp(page, lamp)
    page.get_by_role("button", name="Redeem $5 off for 300 points").click()
    expect(page.get_by_text("$5 off applied.")).to_be_visible()
    expect(page.locator('[data-total="discount"]')).to_have_text("\N{MINUS SIGN}$5.00")
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"loyalty-{viewport}-checkout.png", full_page=True)
    page.get_by_role("button", name="Place order and pay").click()
    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()

    second = Order.objects.exclude(pk=first.pk).get()
    assert (second.status, second.subtotal, second.discount) == (OrderStatus.PAID, Decimal("40.00"), Decimal("5.00"))
    assert second.total == second.subtotal - second.discount + second.shipping + second.tax
    assert second.discount_redemption.code.points_entry.kind == EntryKind.REDEEMED

    page.goto("/loyalty/")
    history = page.locator("#history")
    expect(history).to_contain_text(f"Earned Order {first.number}")
    expect(history).to_contain_text("Redeemed $5 off")
    # The second order earned its own points (on what was paid after the discount), pending again.
    expect(page.locator('[data-loyalty="balance"]')).to_have_text("100")
    expect(page.locator('[data-loyalty="pending"]')).to_contain_text("350 points pending")
    assert list(PointsEntry.objects.filter(user=ada).order_by("pk").values_list("kind", flat=True)) == [
        EntryKind.EARNED,
        EntryKind.RELEASED,
        EntryKind.REDEEMED,
        EntryKind.EARNED,
    ]
    assert services.check_balance(ada.pk).agrees
    assert re.search(r"REWARD-", second.discount_redemption.code.code)
    page.screenshot(path=screenshots / f"loyalty-{viewport}-history.png", full_page=True)
