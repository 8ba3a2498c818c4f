"""Reviews on the storefront: product pages and cards, the cached page showing new reviews, JSON-LD, writing from
an email link, votes, reports, and questions and answers."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django import DjangoAssertNumQueries, Settings

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Category, Product
from patron.orders import services as orders
from patron.reviews import services
from patron.reviews.models import Question, Review, ReviewSettings, Status
from patron.reviews.services import ReviewInput, Upload
from patron.reviews.testing import deliver, photo_bytes
from tests.factories import make_category, make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Settings) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def shelf() -> Category:
    return make_category("Kitchen")


@pytest.fixture
def kettle(shelf: Category) -> Product:
    return make_product("Copper Kettle", category=shelf, price="60.00", stock=30)


def _page(client: Client, product: Product) -> str:
    response = client.get(f"/p/{product.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def _delivered(user: User, staff: User, product: Product) -> None:
    order = make_order([(product.variants.get(), 1)], user=user)
    orders.mark_paid(order.pk, pay(order).pk)
    deliver(order, staff=staff)


def _structured(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


def test_the_product_page_shows_ratings_reviews_and_their_markup(
    client: Client, customer: User, staff: User, kettle: Product
) -> None:
    _delivered(customer, staff, kettle)
    services.create_review(customer, kettle.pk, ReviewInput(rating=5, title="Boils fast", comment="Pretty too."))
    services.create_review(make_user("grace@example.com"), kettle.pk, ReviewInput(rating=4, comment="Heavy."))
    review = services.create_review(make_user("alan@example.com"), kettle.pk, ReviewInput(rating=2, comment="Leaks"))
    services.reply_to_review(staff, review.pk, "Sorry! We are sending a new one.")

    html = _page(client, kettle)
    assert 'aria-label="Rated 3.7 out of 5"' in html
    assert "3 reviews" in html
    assert "Boils fast" in html and "Verified buyer" in html and "Ada L." in html
    assert "Sorry! We are sending a new one." in html
    data = _structured(html)
    assert data["aggregateRating"] == {
        "@type": "AggregateRating",
        "ratingValue": "3.67",
        "reviewCount": 3,
        "bestRating": 5,
        "worstRating": 1,
    }
    assert {entry["reviewRating"]["ratingValue"] for entry in data["review"]} == {5, 4, 2}
    assert data["offers"]["@type"] == "Offer"  # the catalog's markup is kept


def test_a_product_without_reviews_invites_one_and_has_no_rating_markup(client: Client, kettle: Product) -> None:
    html = _page(client, kettle)
    assert "No reviews yet" in html and f"/reviews/write/{kettle.slug}/" in html
    assert "aggregateRating" not in _structured(html)


def test_the_cached_page_shows_a_new_review_at_once(client: Client, customer: User, kettle: Product) -> None:
    first = client.get(f"/p/{kettle.slug}/")
    assert first["X-Page-Cache"] == "miss"
    assert client.get(f"/p/{kettle.slug}/")["X-Page-Cache"] == "hit"
    services.create_review(customer, kettle.pk, ReviewInput(rating=5, title="Shiny and quick"))
    again = client.get(f"/p/{kettle.slug}/")
    assert again["X-Page-Cache"] == "miss"
    assert "Shiny and quick" in again.content.decode()


def test_cards_show_rating_and_count_with_one_query_per_grid(
    client: Client, shelf: Category, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    products = [make_product(f"Pan {number}", category=shelf, stock=5) for number in range(12)]
    for number, product in enumerate(products[:6]):
        services.create_review(make_user(f"cook{number}@example.com"), product.pk, ReviewInput(rating=4))
    with django_assert_max_num_queries(11):
        html = client.get(f"/c/{shelf.slug}/").content.decode()
    assert html.count('class="card-rating"') == 6
    assert "4.0 (1)" in html


def test_recent_buyers_are_shown_only_when_true_and_enough(client: Client, kettle: Product, settings: Settings) -> None:
    settings.REVIEWS_RECENT_BUYERS_MIN = 2
    variant = kettle.variants.get()
    order = make_order([(variant, 1)], email="one@example.com")
    orders.mark_paid(order.pk, pay(order).pk)
    assert "bought this in the last 24 hours" not in _page(client, kettle)
    order = make_order([(variant, 1)], email="two@example.com")
    orders.mark_paid(order.pk, pay(order).pk)
    assert "2 people bought this in the last 24 hours" in _page(client, kettle)


def test_the_product_page_runs_a_bounded_number_of_queries(
    client: Client, customer: User, staff: User, kettle: Product, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    _delivered(customer, staff, kettle)
    for number in range(8):
        review = services.create_review(make_user(f"r{number}@example.com"), kettle.pk, ReviewInput(rating=5))
        services.add_photos(review.user, review.pk, [Upload(file=io.BytesIO(photo_bytes()))])
    with django_assert_max_num_queries(10):
        _page(client, kettle)
    client.force_login(customer)
    with django_assert_max_num_queries(16):
        html = _page(client, kettle)
    assert "Write a review" in html


def test_a_customer_writes_from_the_email_link_without_signing_in(
    client: Client, customer: User, staff: User, kettle: Product
) -> None:
    _delivered(customer, staff, kettle)
    token = services.write_link_token(customer.pk, kettle.pk)
    form = client.get(f"/reviews/write/{kettle.slug}/", {"rating": "5", "token": token})
    assert form.status_code == 200
    html = form.content.decode()
    assert re.search(r'<input type="radio" name="rating" value="5"[^>]* checked>', html)
    assert "Verified buyer" in html

    photo = SimpleUploadedFile("kettle.jpg", photo_bytes(80, 60), content_type="image/jpeg")
    response = client.post(
        f"/reviews/write/{kettle.slug}/",
        {"token": token, "rating": "5", "title": "Best kettle", "comment": "Quiet and quick.", "photos": [photo]},
    )
    assert response.status_code == 302 and response["Location"] == f"/p/{kettle.slug}/#reviews"
    review = Review.objects.get()
    assert (review.user, review.verified, review.status, review.photos.count()) == (customer, True, "published", 1)
    page = client.get(response["Location"]).content.decode()
    assert "Best kettle" in page and "Thank you! Your review is on the product page." in page


def test_writing_without_a_valid_link_asks_to_sign_in(client: Client, customer: User, kettle: Product) -> None:
    response = client.get(f"/reviews/write/{kettle.slug}/", {"token": "forged"})
    assert response.status_code == 302 and response["Location"].startswith("/account/login/")
    other = make_product("Teapot")
    token = services.write_link_token(customer.pk, other.pk)
    assert client.get(f"/reviews/write/{kettle.slug}/", {"token": token}).status_code == 302


def test_a_non_image_upload_shows_a_clear_form_error(client: Client, customer: User, kettle: Product) -> None:
    client.force_login(customer)
    fake = SimpleUploadedFile("kettle.jpg", b"MZ\x90\x00 definitely not a picture", content_type="image/jpeg")
    response = client.post(f"/reviews/write/{kettle.slug}/", {"rating": "4", "photos": [fake]})
    assert response.status_code == 200
    assert "That file is not a photo: upload a JPEG, PNG, WebP or GIF image." in response.content.decode()
    assert not Review.objects.exists()


def test_a_held_review_is_announced_as_waiting(client: Client, customer: User, kettle: Product) -> None:
    client.force_login(customer)
    response = client.post(
        f"/reviews/write/{kettle.slug}/", {"rating": "1", "comment": "Visit www.kettles-cheap.xyz now"}, follow=True
    )
    assert "will appear once we have read it" in response.content.decode()
    assert Review.objects.get().status == Status.PENDING


def test_editing_and_deleting_ones_own_review(client: Client, customer: User, kettle: Product) -> None:
    review = services.create_review(customer, kettle.pk, ReviewInput(rating=3, comment="Okay"))
    client.force_login(customer)
    assert client.get(f"/reviews/write/{kettle.slug}/")["Location"] == f"/reviews/{review.pk}/edit/"
    response = client.post(f"/reviews/{review.pk}/edit/", {"rating": "4", "comment": "Better after a week"})
    assert response.status_code == 302
    review.refresh_from_db()
    assert (review.rating, review.comment) == (4, "Better after a week")
    client.force_login(make_user("grace@example.com"))
    assert client.get(f"/reviews/{review.pk}/edit/").status_code == 404
    client.force_login(customer)
    assert client.post(f"/reviews/{review.pk}/delete/").status_code == 302
    assert not Review.objects.exists()


def test_helpful_votes_and_reports_from_the_page(client: Client, customer: User, kettle: Product) -> None:
    review = services.create_review(customer, kettle.pk, ReviewInput(rating=5, comment="Good"))
    assert "Sign in to vote" in _page(client, kettle)
    client.force_login(make_user("grace@example.com"))
    response = client.post(f"/reviews/{review.pk}/helpful/", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Helpful (1)" in response.content.decode()
    client.post(f"/reviews/{review.pk}/helpful/", headers={"HX-Request": "true"})
    assert Review.objects.get(pk=review.pk).helpful_count == 1
    response = client.post(f"/reviews/{review.pk}/report/", {"reason": "spam"})
    assert response.status_code == 302
    assert review.reports.count() == 1


def test_the_review_list_sorts_and_filters(client: Client, kettle: Product) -> None:
    # Titles that no timestamp or markup on the page could contain by chance.
    titles = {1: "Flimsy lid", 5: "Superb pour", 3: "Decent enough"}
    for number, (rating, title) in enumerate(titles.items()):
        services.create_review(make_user(f"s{number}@example.com"), kettle.pk, ReviewInput(rating=rating, title=title))
    html = client.get(f"/reviews/product/{kettle.pk}/", {"sort": "lowest"}).content.decode()
    assert html.index("Flimsy lid") < html.index("Decent enough") < html.index("Superb pour")
    fragment = client.get(f"/reviews/product/{kettle.pk}/", {"rating": "5"}, headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert body.startswith('<div id="review-list"') and "Superb pour" in body
    assert "Flimsy lid" not in body and "Decent enough" not in body


def test_questions_are_asked_and_answered_on_the_page(
    client: Client, customer: User, staff: User, kettle: Product
) -> None:
    fragment = client.get(f"/reviews/product/{kettle.pk}/questions/", headers={"HX-Request": "true"})
    assert "Sign in to ask a question" in fragment.content.decode()
    asker = make_user("grace@example.com")
    client.force_login(asker)
    response = client.post(
        f"/reviews/product/{kettle.pk}/questions/ask/",
        {"body": "Does it work on induction?"},
        headers={"HX-Request": "true"},
    )
    assert "once it has an answer" in response.content.decode()
    question = Question.objects.get()

    _delivered(customer, staff, kettle)
    client.force_login(customer)
    open_html = client.get(f"/reviews/product/{kettle.pk}/questions/", headers={"HX-Request": "true"})
    assert "Does it work on induction?" in open_html.content.decode() and "Your answer" in open_html.content.decode()
    client.post(f"/reviews/questions/{question.pk}/answer/", {"body": "Yes, mine does."})
    client.logout()
    shown = client.get(f"/reviews/product/{kettle.pk}/questions/", headers={"HX-Request": "true"}).content.decode()
    assert "Does it work on induction?" in shown and "Yes, mine does." in shown and "Verified buyer" in shown


def test_rewarded_reviews_are_labelled_as_such(client: Client, customer: User, kettle: Product) -> None:
    ReviewSettings.objects.update_or_create(pk=1, defaults={"reviews_are_rewarded": True})
    review = services.create_review(customer, kettle.pk, ReviewInput(rating=5, comment="Points well earned"))
    assert review.incentivized is True
    html = _page(client, kettle)
    assert "Rewarded for reviewing" in html
