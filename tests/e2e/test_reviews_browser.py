"""A customer whose order was delivered follows the review-request email's five-star link, writes a review with a
photo, and finds it on the product page with the verified badge, on a desktop screen and on a phone."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from patron.accounts.testing import make_user
from patron.catalog.models import Product
from patron.followups import services as followups
from patron.followups.models import FlowKey, Message, MessageStatus
from patron.orders import services as orders
from patron.reviews.models import Review
from patron.reviews.testing import deliver, photo_bytes
from tests.factories import make_image, make_product
from tests.order_factories import make_order, pay
from tests.servers import Inbox, message_parts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def teapot(live_server: Any, settings: Any, tmp_path: Path, smtp_inbox: Inbox) -> Product:
    settings.MEDIA_ROOT = tmp_path
    # The email's links must lead to this test's server.
    settings.SITE_URL = live_server.url
    product = make_product("Cast Iron Teapot", price="48.00", stock=10)
    make_image(product, width=120, height=120)
    return product


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_verified_review_with_a_photo_from_the_email(
    page: Page, teapot: Product, smtp_inbox: Inbox, tmp_path: Path, viewport: str, screenshots: Path
) -> None:
    customer = make_user("ada@example.com", name="Ada Lovelace")
    staff = make_user("staff@example.com", is_staff=True)
    order = make_order([(teapot.variants.get(), 1)], user=customer)
    orders.mark_paid(order.pk, pay(order).pk)
    delivered = timezone.now() - timedelta(days=8)
    deliver(order, staff=staff, at=delivered)
    followups.on_order_delivered(order.pk)
    followups.send_due(timezone.now())
    assert Message.objects.get(flow=FlowKey.REVIEW_REQUEST, step=0).status == MessageStatus.SENT
    email = next(m for m in smtp_inbox.messages if m["Subject"] == f"How do you like your order {order.number}?")
    text, _ = message_parts(email)
    five_stars = next(line for line in text.splitlines() if line.strip().startswith("5 stars:")).split(": ", 1)[1]

    page.goto(five_stars)
    expect(page.get_by_role("heading", name="Review Cast Iron Teapot")).to_be_visible()
    expect(page.get_by_label("5 stars")).to_be_checked()
    expect(page.get_by_text("Verified buyer")).to_be_visible()
    assert fits_the_screen(page)
    photo = tmp_path / "teapot.jpg"
    photo.write_bytes(photo_bytes(640, 480, colour="darkred"))
    page.get_by_label("Title (optional)").fill("Keeps tea hot for ages")
    page.get_by_label("Your review").fill("Heavy, beautiful and the infuser is easy to clean.")
    page.get_by_label("Photos (optional)").set_input_files(str(photo))
    page.screenshot(path=screenshots / f"reviews-write-{viewport}.png", full_page=True)
    page.get_by_role("button", name="Post review").click()

    expect(page).to_have_url(re.compile(rf"/p/{teapot.slug}/#reviews$"))
    expect(page.get_by_text("Thank you! Your review is on the product page.")).to_be_visible()
    review = page.locator(".review").filter(has_text="Keeps tea hot for ages")
    expect(review).to_be_visible()
    expect(review.get_by_text("Verified buyer")).to_be_visible()
    expect(review.get_by_role("img", name="Rated 5.0 out of 5")).to_be_visible()
    expect(review.get_by_role("img", name="Photo 1 from this review")).to_be_visible()
    expect(page.get_by_role("img", name="Customer photo 1")).to_be_visible()
    expect(page.locator(".rating-line")).to_contain_text("1 review")
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"reviews-product-{viewport}.png", full_page=True)

    saved = Review.objects.get()
    assert (saved.user, saved.rating, saved.verified, saved.order_id) == (customer, 5, True, order.pk)
    stored = saved.photos.get()
    assert (stored.width, stored.height) == (640, 480)
