"""/api/reviews: listing with sorting and filters, writing, editing, deleting, moderating, photos, votes, Q&A."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django import DjangoAssertNumQueries, Settings

from patron.accounts.models import User
from patron.accounts.testing import bearer, make_user
from patron.catalog.models import Product
from patron.orders import services as orders
from patron.reviews import services
from patron.reviews.models import Review, Status
from patron.reviews.services import ReviewInput
from patron.reviews.testing import deliver, photo_bytes
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db
URL = "/api/reviews/"


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Settings) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def lamp() -> Product:
    return make_product("Brass Lamp", price="45.00", stock=10)


def _delivered(user: User, staff: User, product: Product) -> None:
    order = make_order([(product.variants.get(), 1)], user=user)
    orders.mark_paid(order.pk, pay(order).pk)
    deliver(order, staff=staff)


def _post(client: Client, user: User, body: dict[str, Any]) -> Any:
    return client.post(URL, body, content_type="application/json", **bearer(user))


def test_a_customer_reviews_a_delivered_product_and_everyone_reads_it(
    client: Client, customer: User, staff: User, lamp: Product
) -> None:
    _delivered(customer, staff, lamp)
    response = _post(client, customer, {"product": lamp.pk, "rating": 5, "title": "Warm light", "comment": "Lovely."})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["verified"] is True and body["status"] == "published" and body["order"] is not None
    assert body["user"] == {"id": customer.pk, "name": "Ada L."}
    assert {"product", "rating", "comment", "created", "title", "photos", "status"} <= set(body)

    listed = client.get(URL, {"product": lamp.pk}).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]
    assert listed["items"][0]["order"] is None  # the order is the author's and staff's business
    assert listed["summary"]["average"] == "5.00"
    assert listed["summary"]["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}
    assert client.get(f"{URL}summary", {"product": lamp.pk}).json()["review_count"] == 1


def test_verified_cannot_be_sent_in(client: Client, customer: User, lamp: Product) -> None:
    response = _post(client, customer, {"product": lamp.pk, "rating": 5, "verified": True})
    assert response.status_code == 422
    assert "verified" in response.json()["error"]["fields"]
    review = services.create_review(customer, lamp.pk, ReviewInput(rating=5))
    response = client.put(f"{URL}{review.pk}", {"verified": True}, content_type="application/json", **bearer(customer))
    assert response.status_code == 422
    assert Review.objects.get(pk=review.pk).verified is False


def test_a_second_review_of_the_same_product_is_a_conflict(client: Client, customer: User, lamp: Product) -> None:
    assert _post(client, customer, {"product": lamp.pk, "rating": 4}).status_code == 201
    response = _post(client, customer, {"product": lamp.pk, "rating": 2})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_reviewed"


def test_writing_needs_a_token_and_valid_input(client: Client, customer: User, lamp: Product) -> None:
    assert client.post(URL, {"product": lamp.pk, "rating": 5}, content_type="application/json").status_code == 401
    assert _post(client, customer, {"product": lamp.pk, "rating": 0}).status_code == 422
    assert _post(client, customer, {"product": 10**9, "rating": 5}).status_code == 404


def test_authors_edit_and_delete_their_own_and_staff_moderate(
    client: Client, customer: User, staff: User, lamp: Product
) -> None:
    review = services.create_review(customer, lamp.pk, ReviewInput(rating=3, comment="Fine"))
    other = make_user("grace@example.com")
    url = f"{URL}{review.pk}"

    response = client.put(url, {"rating": 4}, content_type="application/json", **bearer(other))
    assert response.status_code == 404
    response = client.put(url, {"status": "rejected"}, content_type="application/json", **bearer(customer))
    assert response.status_code == 403
    response = client.put(url, {"rating": 4, "comment": "Better"}, content_type="application/json", **bearer(customer))
    assert response.status_code == 200 and response.json()["rating"] == 4

    response = client.put(
        url,
        {"status": "rejected", "moderation_note": "duplicate", "reply": "Thanks for writing!"},
        content_type="application/json",
        **bearer(staff),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected" and response.json()["reply"]["body"] == "Thanks for writing!"
    assert client.get(url).status_code == 404  # no longer public
    assert client.get(url, **bearer(customer)).status_code == 200  # the author still sees it

    queue = client.get(URL, {"status": "rejected"}, **bearer(staff)).json()
    assert [item["id"] for item in queue["items"]] == [review.pk]
    assert client.get(URL, {"status": "pending"}).status_code == 403
    mine = client.get(URL, {"mine": "true"}, **bearer(customer)).json()
    assert [item["id"] for item in mine["items"]] == [review.pk]

    assert client.delete(url, **bearer(other)).status_code == 404
    assert client.delete(url, **bearer(customer)).status_code == 204
    assert not Review.objects.exists()


def test_photos_are_uploaded_checked_and_listed(client: Client, customer: User, lamp: Product) -> None:
    review = services.create_review(customer, lamp.pk, ReviewInput(rating=5))
    url = f"{URL}{review.pk}/photos"
    good = SimpleUploadedFile("lamp.jpg", photo_bytes(50, 40), content_type="image/jpeg")
    response = client.post(url, {"photos": [good]}, **bearer(customer))
    assert response.status_code == 201, response.content
    [photo] = response.json()
    assert (photo["width"], photo["height"]) == (50, 40) and photo["url"].endswith(".jpg")

    fake = SimpleUploadedFile("lamp.jpg", b"<?php echo 1; ?>", content_type="image/jpeg")
    response = client.post(url, {"photos": [fake]}, **bearer(customer))
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["photos"] == [
        "That file is not a photo: upload a JPEG, PNG, WebP or GIF image."
    ]
    stranger = make_user("grace@example.com")
    again = SimpleUploadedFile("x.jpg", photo_bytes(), content_type="image/jpeg")
    assert client.post(url, {"photos": [again]}, **bearer(stranger)).status_code == 404

    listed = client.get(URL, {"product": str(lamp.pk), "with_photos": "true"}).json()
    assert [len(item["photos"]) for item in listed["items"]] == [1]
    assert client.delete(f"{url}/{photo['id']}", **bearer(customer)).status_code == 204


def test_an_oversize_upload_is_refused_with_a_clear_error(
    client: Client, customer: User, lamp: Product, settings: Settings
) -> None:
    settings.REVIEWS_PHOTO_MAX_MB = 1
    review = services.create_review(customer, lamp.pk, ReviewInput(rating=5))
    big = SimpleUploadedFile("big.jpg", photo_bytes() + b"\0" * (1024 * 1024 + 1), content_type="image/jpeg")
    response = client.post(f"{URL}{review.pk}/photos", {"photos": [big]}, **bearer(customer))
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["photos"] == ["A photo may be at most 1 MB."]


def test_helpful_votes_count_once_per_person(client: Client, customer: User, lamp: Product) -> None:
    review = services.create_review(customer, lamp.pk, ReviewInput(rating=5))
    voter = make_user("grace@example.com")
    url = f"{URL}{review.pk}/helpful"
    assert client.post(url, **bearer(voter)).json() == {"helpful_count": 1, "counted": True}
    assert client.post(url, **bearer(voter)).json() == {"helpful_count": 1, "counted": False}
    assert client.post(url, **bearer(customer)).status_code == 403
    assert client.post(url).status_code == 401


def test_reporting_once(client: Client, customer: User, lamp: Product) -> None:
    review = services.create_review(customer, lamp.pk, ReviewInput(rating=5))
    reporter = make_user("grace@example.com")
    url = f"{URL}{review.pk}/report"
    response = client.post(url, {"reason": "spam"}, content_type="application/json", **bearer(reporter))
    assert response.status_code == 201 and response.json() == {"reported": True, "status": "published"}
    response = client.post(url, {"reason": "spam"}, content_type="application/json", **bearer(reporter))
    assert response.status_code == 409
    response = client.post(url, {"reason": "dull"}, content_type="application/json", **bearer(customer))
    assert response.status_code == 422


def test_questions_and_answers(client: Client, customer: User, staff: User, lamp: Product) -> None:
    asker = make_user("grace@example.com")
    response = client.post(
        f"{URL}questions",
        {"product": lamp.pk, "body": "Which bulb does it take?"},
        content_type="application/json",
        **bearer(asker),
    )
    assert response.status_code == 201
    question_id = response.json()["id"]
    answer_url = f"{URL}questions/{question_id}/answers"
    body = {"body": "E27, up to 40 W."}
    assert client.post(answer_url, body, content_type="application/json", **bearer(customer)).status_code == 403
    response = client.post(answer_url, body, content_type="application/json", **bearer(staff))
    assert response.status_code == 201 and response.json()["author"] == "Store team"
    [shown] = client.get(f"{URL}questions", {"product": lamp.pk}).json()
    assert shown["body"] == "Which bulb does it take?" and [a["body"] for a in shown["answers"]] == ["E27, up to 40 W."]


def test_the_list_runs_a_bounded_number_of_queries(
    client: Client, lamp: Product, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for index in range(12):
        review = services.create_review(
            make_user(f"buyer{index}@example.com"), lamp.pk, ReviewInput(rating=index % 5 + 1)
        )
        services.add_photos(review.user, review.pk, [services.Upload(file=io.BytesIO(photo_bytes()))])
    with django_assert_max_num_queries(5):
        response = client.get(URL, {"product": lamp.pk, "page_size": 50})
    assert len(response.json()["items"]) == 12
    assert Review.objects.filter(status=Status.PUBLISHED).count() == 12
