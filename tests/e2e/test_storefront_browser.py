"""A shopper's journeys through the storefront in a real browser, on a desktop screen and on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from patron.catalog.models import ProductImage
from patron.storefront.testing import SampleCatalog, build_sample_catalog

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a sturdy passphrase 42"
MAX_TABS = 80


@pytest.fixture
def shop(live_server: Any) -> Iterator[SampleCatalog]:
    catalog = build_sample_catalog()
    yield catalog
    # The live server serves media from MEDIA_ROOT, so the pictures live there; they leave with the test.
    for image in ProductImage.objects.all():
        image.image.delete(save=False)


class Journey:
    """Checks every page a scenario visits and keeps a screenshot of each step."""

    def __init__(self, page: Page, viewport: str, screenshots: Path, scenario: str) -> None:
        self.page, self.viewport, self.screenshots, self.scenario = page, viewport, screenshots, scenario

    def check(self, step: str) -> None:
        fits = self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, f"{step}: the page scrolls sideways at {self.viewport} width"
        self.page.screenshot(path=self.screenshots / f"{self.scenario}-{self.viewport}-{step}.png", full_page=True)


@pytest.fixture
def journey(request: pytest.FixtureRequest, page: Page, viewport: str, screenshots: Path) -> Journey:
    scenario = request.node.originalname.removeprefix("test_")
    return Journey(page, viewport, screenshots, scenario)


def focused(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate("() => ({id: document.activeElement.id, className: String(document.activeElement.className)})")
    )


def test_browse_from_home_to_a_category(page: Page, journey: Journey, shop: SampleCatalog, viewport: str) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Bestsellers")).to_be_visible()
    journey.check("home")

    # The search box and the first product are reachable from the keyboard alone.
    reached_search = reached_product = False
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = focused(page)
        reached_search = reached_search or now["id"] == "search-q"
        if "product-card__link" in now["className"]:
            reached_product = True
            break
    assert reached_search, "Tab never reached the search box"
    assert reached_product, "Tab never reached a product"

    if viewport == "phone":
        page.locator(".category-tile", has_text="Electronics").click()
    else:
        page.get_by_role("navigation", name="Categories").get_by_role("link", name="Electronics").click()
    expect(page).to_have_url(re.compile(r"/c/electronics/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Electronics")
    expect(page.locator(".product-grid .product-card")).to_have_count(3)
    journey.check("category")

    page.get_by_role("navigation", name="Sub-categories of Electronics").get_by_role("link", name="Audio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audio")
    expect(page.locator(".product-grid .product-card")).to_have_count(2)
    journey.check("subcategory")


def test_search_with_a_typo_finds_the_product(page: Page, journey: Journey, shop: SampleCatalog) -> None:
    page.goto("/")
    box = page.get_by_role("searchbox", name="Search products")
    box.fill("blue")
    suggestion = page.locator("#search-suggestions a", has_text="Bluetooth Headphones")
    expect(suggestion).to_be_visible()
    box.press("ArrowDown")
    expect(page.locator("#search-suggestions a").first).to_be_focused()
    journey.check("suggestions")

    box.fill("blutooth headphnes")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=blutooth\+headphnes"))
    expect(page.locator(".notice")).to_contain_text("Showing results for bluetooth headphones")
    journey.check("results")

    page.locator(".product-card__link", has_text="Bluetooth Headphones").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bluetooth Headphones")
    main_image = page.locator("#gallery-main")
    current = "document.getElementById('gallery-main').currentSrc"
    page.wait_for_function(f"{current}.includes('bluetooth-headphones-0')")
    # The 64 px thumbnails load a small copy (which one depends on the screen's pixel density), not the
    # 400 px original.
    thumb = page.locator(".gallery__thumb img").first
    expect(thumb).to_have_js_property("complete", True)
    assert re.search(r"-(160|320)w[^/]*\.webp$", thumb.evaluate("image => image.currentSrc"))
    first_src = main_image.get_attribute("src")
    page.get_by_role("link", name="Show image 2 of 2").click()
    expect(main_image).not_to_have_attribute("src", first_src or "")
    page.wait_for_function(f"{current}.includes('bluetooth-headphones-1')")
    expect(page).to_have_url(re.compile(r"/p/bluetooth-headphones/$"))
    journey.check("product")


def test_filters_update_the_listing_in_place(page: Page, journey: Journey, shop: SampleCatalog, viewport: str) -> None:
    page.goto("/c/electronics/")
    expect(page.locator(".product-grid .product-card")).to_have_count(3)
    page.evaluate("window.sameDocument = true")
    if viewport == "phone":
        page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Acme").check()
    expect(page).to_have_url(re.compile(r"brand=Acme"))
    expect(page.locator(".product-grid .product-card")).to_have_count(2)
    expect(page.locator("#catalog-status")).to_have_text("2 products found")
    assert page.evaluate("window.sameDocument === true"), "the listing should change without a page load"
    journey.check("brand")

    page.locator("#max-price").fill("30")
    page.locator("#max-price").press("Enter")
    expect(page).to_have_url(re.compile(r"max_price=30"))
    expect(page.locator(".product-grid .product-card")).to_have_count(1)
    expect(page.locator(".product-grid .product-card")).to_contain_text("Wired Earbuds")
    assert page.evaluate("window.sameDocument === true")
    journey.check("price")

    page.go_back()
    expect(page.locator(".product-grid .product-card")).to_have_count(2)


def test_variant_picker_shows_price_and_stock(page: Page, journey: Journey, shop: SampleCatalog) -> None:
    page.goto("/p/organic-cotton-t-shirt/")
    price = page.locator("[data-variant-price]")
    stock = page.locator("[data-variant-stock]")
    sku = page.locator("[data-variant-sku]")
    size = page.get_by_role("group", name="Size")
    colour = page.get_by_role("group", name="Colour")
    expect(price).to_have_text("$15.00")
    expect(stock).to_have_text("In stock")
    journey.check("initial")

    size.get_by_text("L", exact=True).click()
    expect(price).to_have_text("$17.00")
    expect(stock).to_have_text("Out of stock")
    expect(sku).to_have_text("BAS-TS-L-RED")
    journey.check("sold-out")

    colour.get_by_text("Blue", exact=True).click()
    expect(stock).to_have_text("In stock")
    expect(sku).to_have_text("BAS-TS-L-BLUE")

    size.get_by_text("M", exact=True).click()
    colour.get_by_text("Red", exact=True).click()
    expect(price).to_have_text("$15.00")
    expect(stock).to_have_text("Only 3 left")
    journey.check("low-stock")

    size.get_by_text("S", exact=True).click()
    colour.get_by_text("Blue", exact=True).click()
    expect(stock).to_have_text("This combination is not available")


def test_register_then_log_in(page: Page, journey: Journey, shop: SampleCatalog, viewport: str) -> None:
    email = f"ada.{viewport}@example.com"
    page.goto("/")
    page.get_by_role("navigation", name="Account", exact=True).get_by_role("link", name="Register").click()
    page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)", exact=True).fill(PASSWORD)
    journey.check("register")
    page.get_by_role("button", name="Create account").click()
    account_nav = page.get_by_role("navigation", name="Account", exact=True)
    log_out = account_nav.get_by_role("button", name="Log out")
    expect(log_out).to_be_visible()
    journey.check("registered")

    log_out.click()
    log_in = account_nav.get_by_role("link", name="Log in")
    expect(log_in).to_be_visible()
    log_in.click()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    journey.check("login")
    page.get_by_role("button", name="Log in").click()
    expect(log_out).to_be_visible()
    expect(account_nav.get_by_role("link", name="Account")).to_be_visible()
    journey.check("logged-in")
