"""Review rules: the verified badge, one review per product, moderation, photos, votes, reports, summaries, Q&A."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from PIL import Image
from pytest_django import Settings

from patron import events
from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Product, Variant
from patron.catalog.services import catalog_version
from patron.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from patron.orders import services as orders
from patron.orders.models import Order
from patron.reviews import services
from patron.reviews.models import HelpfulVote, RatingSummary, Review, ReviewSettings, Status
from patron.reviews.services import ReviewChanges, ReviewInput, Upload
from patron.reviews.testing import deliver, gps_exif, photo_bytes, ship
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Settings) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def dress() -> Product:
    return make_product("Linen Dress", price="80.00", stock=20, options=[{"size": "S"}, {"size": "M"}])


def _paid(user: User, lines: list[tuple[Variant, int]]) -> Order:
    order = make_order(lines, user=user)
    orders.mark_paid(order.pk, pay(order).pk)
    order.refresh_from_db()
    return order


def _delivered(user: User, staff: User, variant: Variant) -> Order:
    return deliver(_paid(user, [(variant, 1)]), staff=staff)


def _review(user: User, product: Product, rating: int = 5, **fields: Any) -> Review:
    return services.create_review(user, product.pk, ReviewInput(rating=rating, **fields))


# --- Verified badge ----------------------------------------------------------------------------------------


def test_a_delivered_order_makes_the_review_verified_and_names_the_order(
    customer: User, staff: User, dress: Product
) -> None:
    order = _delivered(customer, staff, dress.variants.first())  # type: ignore[arg-type]
    review = _review(customer, dress, comment="Lovely fabric.")
    assert review.verified is True
    assert review.order_id == order.pk
    assert review.status == Status.PUBLISHED


@pytest.mark.parametrize("stage", ["paid", "shipped", "cancelled"])
def test_an_order_that_was_not_delivered_does_not_verify(
    customer: User, staff: User, dress: Product, stage: str
) -> None:
    order = _paid(customer, [(dress.variants.first(), 1)])  # type: ignore[list-item]
    if stage == "shipped":
        ship(order, staff=staff)
    elif stage == "cancelled":
        orders.cancel_order(order, actor=staff)
    review = _review(customer, dress)
    assert review.verified is False
    assert review.order_id is None


def test_someone_elses_delivery_or_another_product_does_not_verify(customer: User, staff: User, dress: Product) -> None:
    other = make_product("Wool Scarf")
    _delivered(customer, staff, other.variants.get())
    _delivered(make_user("grace@example.com"), staff, dress.variants.first())  # type: ignore[arg-type]
    assert _review(customer, dress).verified is False


def test_a_review_of_a_variant_is_verified_only_by_that_variant(customer: User, staff: User, dress: Product) -> None:
    small, medium = dress.variants.order_by("position")
    _delivered(customer, staff, small)
    assert _review(customer, dress, variant_id=medium.pk).verified is False
    grace = make_user("grace@example.com")
    _delivered(grace, staff, small)
    assert _review(grace, dress, variant_id=small.pk).verified is True


def test_a_review_written_before_delivery_becomes_verified_when_the_order_arrives(
    customer: User, staff: User, dress: Product
) -> None:
    order = _paid(customer, [(dress.variants.first(), 1)])  # type: ignore[list-item]
    review = _review(customer, dress)
    assert review.verified is False
    deliver(order, staff=staff)
    assert services.verify_reviews_for_order(order.pk) == 1
    review.refresh_from_db()
    assert (review.verified, review.order_id) == (True, order.pk)
    assert services.verify_reviews_for_order(order.pk) == 0


def test_nobody_can_set_verified_by_hand(customer: User, dress: Product) -> None:
    assert "verified" not in ReviewInput.__dataclass_fields__
    assert "verified" not in ReviewChanges.__dataclass_fields__
    assert Review._meta.get_field("verified").editable is False


# --- One review per customer and product --------------------------------------------------------------------


def test_one_review_per_customer_and_product(customer: User, dress: Product) -> None:
    _review(customer, dress, rating=4)
    with pytest.raises(Conflict) as refused:
        _review(customer, dress, rating=1)
    assert refused.value.code == "already_reviewed"
    # Even a write that slips past the check is stopped by the database.
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(user=customer, product=dress, rating=2)
    assert Review.objects.filter(user=customer, product=dress).count() == 1


def test_bad_input_is_refused_with_the_field_named(customer: User, dress: Product) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _review(customer, dress, rating=6)
    assert "rating" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        _review(customer, dress, comment="x" * 5001)
    assert "comment" in refused.value.fields
    other = make_product("Belt")
    with pytest.raises(ValidationFailed) as refused:
        _review(customer, dress, variant_id=other.variants.get().pk)
    assert "variant" in refused.value.fields
    with pytest.raises(NotAuthenticated):
        services.create_review(None, dress.pk, ReviewInput(rating=5))


# --- Moderation ------------------------------------------------------------------------------------------


def test_abusive_text_is_held_even_when_reviews_publish_at_once(customer: User, dress: Product) -> None:
    review = _review(customer, dress, rating=1, comment="The seller is an idiot, f u c k this shop")
    assert review.status == Status.PENDING
    assert set(review.moderation_flags) >= {"abuse", "profanity"}
    assert services.rating_summary(dress.pk).review_count == 0


def test_spam_with_a_link_is_held(customer: User, dress: Product) -> None:
    review = _review(customer, dress, comment="Cheap dresses at www.best-deals.xyz, click here")
    assert review.status == Status.PENDING
    assert "link" in review.moderation_flags and "spam" in review.moderation_flags


def test_an_honest_bad_review_is_published(customer: User, dress: Product) -> None:
    review = _review(customer, dress, rating=1, comment="Crap quality, the zipper broke the first day. Stupid design.")
    assert review.status == Status.PUBLISHED
    assert review.moderation_flags == []


def test_with_auto_publish_off_staff_approve_every_review(
    customer: User, staff: User, dress: Product, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    ReviewSettings.objects.update_or_create(pk=1, defaults={"auto_publish": False})
    review = _review(customer, dress, rating=4)
    assert review.status == Status.PENDING
    with pytest.raises(PermissionDenied):
        services.moderate_review(customer, review.pk, approve=True)
    with django_capture_on_commit_callbacks() as callbacks:
        services.moderate_review(staff, review.pk, approve=True)
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED and review.published_at is not None
    summary = services.rating_summary(dress.pk)
    assert (summary.review_count, summary.average) == (1, Decimal("4.00"))
    assert len(callbacks) >= 1  # ReviewApproved is published after commit

    services.moderate_review(staff, review.pk, approve=False, note="Off topic")
    review.refresh_from_db()
    assert review.status == Status.REJECTED and review.moderation_note == "Off topic"
    assert services.rating_summary(dress.pk).review_count == 0


def test_review_approved_is_announced_once(
    customer: User, staff: User, dress: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced: list[events.Event] = []
    monkeypatch.setattr(events, "publish", announced.append)
    review = _review(customer, dress, rating=5)
    services.update_review(customer, review.pk, ReviewChanges(comment="Still great after a month."))
    services.moderate_review(staff, review.pk, approve=True)
    assert announced == [events.ReviewApproved(review_id=review.pk, user_id=customer.pk, product_id=dress.pk)]


def test_an_edit_is_checked_again(customer: User, dress: Product) -> None:
    review = _review(customer, dress, rating=5, comment="Nice")
    services.update_review(customer, review.pk, ReviewChanges(comment="BUY NOW at my shop, whatsapp me"))
    review.refresh_from_db()
    assert review.status == Status.PENDING
    assert services.rating_summary(dress.pk).review_count == 0
    with pytest.raises(PermissionDenied):
        services.update_review(make_user("staffer@example.com", is_staff=True), review.pk, ReviewChanges(rating=1))


def test_enough_reports_send_a_review_back_for_approval(customer: User, dress: Product) -> None:
    ReviewSettings.objects.update_or_create(pk=1, defaults={"report_threshold": 2})
    review = _review(customer, dress, rating=5)
    first, second = make_user("r1@example.com"), make_user("r2@example.com")
    services.report_review(first, review.pk, "spam")
    with pytest.raises(Conflict):
        services.report_review(first, review.pk, "offensive")
    assert Review.objects.get(pk=review.pk).status == Status.PUBLISHED
    services.report_review(second, review.pk, "offensive", "insults")
    review.refresh_from_db()
    assert review.status == Status.PENDING and "reported" in review.moderation_flags
    with pytest.raises(ValidationFailed):
        services.report_review(make_user("r3@example.com"), review.pk, "boring")


# --- Helpful votes ---------------------------------------------------------------------------------------


def test_a_person_counts_once_as_finding_a_review_helpful(customer: User, dress: Product) -> None:
    review = _review(customer, dress)
    grace = make_user("grace@example.com")
    assert services.vote_helpful(grace, review.pk) == (1, True)
    assert services.vote_helpful(grace, review.pk) == (1, False)
    assert services.vote_helpful(make_user("alan@example.com"), review.pk) == (2, True)
    assert HelpfulVote.objects.filter(review=review).count() == 2
    with pytest.raises(PermissionDenied):
        services.vote_helpful(customer, review.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        HelpfulVote.objects.create(review=review, user=grace)
    assert services.has_voted(grace, [review.pk]) == {review.pk}


# --- Photos ----------------------------------------------------------------------------------------------


def test_photos_are_re_encoded_resized_and_lose_their_metadata(
    customer: User, dress: Product, settings: Settings, tmp_path: Path
) -> None:
    settings.REVIEWS_PHOTO_MAX_EDGE = 64
    upload = Upload(io.BytesIO(photo_bytes(200, 100, image_format="JPEG", exif=gps_exif())))
    png = Upload(io.BytesIO(photo_bytes(30, 50, image_format="PNG")))
    review = services.create_review(customer, dress.pk, ReviewInput(rating=5), uploads=[upload, png])
    first, second = review.photos.order_by("position")
    assert (first.width, first.height) == (64, 32)
    assert (second.width, second.height) == (30, 50)
    stored = tmp_path / str(first.image.name)
    assert str(first.image.name).startswith("reviews/") and stored.suffix == ".jpg"
    with Image.open(stored) as saved:
        assert saved.format == "JPEG"
        assert dict(saved.getexif()) == {}
        assert "exif" not in saved.info
    assert b"SN-1234567" not in stored.read_bytes()


def test_a_file_that_is_not_an_image_is_refused_with_a_clear_error(customer: User, dress: Product) -> None:
    fake = Upload(io.BytesIO(b"%PDF-1.7 not a photo at all"))
    with pytest.raises(ValidationFailed) as refused:
        services.create_review(customer, dress.pk, ReviewInput(rating=5), uploads=[fake])
    assert refused.value.fields["photos"] == ["That file is not a photo: upload a JPEG, PNG, WebP or GIF image."]
    assert not Review.objects.exists()


def test_an_oversize_photo_is_refused(customer: User, dress: Product, settings: Settings) -> None:
    settings.REVIEWS_PHOTO_MAX_MB = 1
    big = photo_bytes(10, 10) + b"\0" * (1024 * 1024)
    with pytest.raises(ValidationFailed) as refused:
        services.create_review(customer, dress.pk, ReviewInput(rating=5), uploads=[Upload(io.BytesIO(big))])
    assert refused.value.fields["photos"] == ["A photo may be at most 1 MB."]
    # The declared size is enough to refuse before reading.
    with pytest.raises(ValidationFailed):
        services.create_review(
            customer, dress.pk, ReviewInput(rating=5), uploads=[Upload(io.BytesIO(b""), size=2 * 1024 * 1024)]
        )


def test_too_many_photos_are_refused(customer: User, dress: Product, settings: Settings) -> None:
    settings.REVIEWS_MAX_PHOTOS = 1
    review = services.create_review(
        customer, dress.pk, ReviewInput(rating=5), uploads=[Upload(io.BytesIO(photo_bytes()))]
    )
    with pytest.raises(ValidationFailed) as refused:
        services.add_photos(customer, review.pk, [Upload(io.BytesIO(photo_bytes()))])
    assert refused.value.fields["photos"] == ["Add at most 1 photos to a review."]


def test_deleting_a_review_deletes_its_photo_files(
    customer: User, dress: Product, tmp_path: Path, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    review = services.create_review(
        customer, dress.pk, ReviewInput(rating=5), uploads=[Upload(io.BytesIO(photo_bytes()))]
    )
    stored = tmp_path / str(review.photos.get().image.name)
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_review(customer, review.pk)
    assert not stored.exists()
    assert not Review.objects.exists()


# --- Summaries and the page cache ------------------------------------------------------------------------


def test_the_summary_counts_published_reviews_and_bumps_the_catalog_version(dress: Product) -> None:
    before = catalog_version()
    for index, rating in enumerate([5, 5, 4, 2]):
        _review(make_user(f"buyer{index}@example.com"), dress, rating=rating)
    _review(make_user("troll@example.com"), dress, rating=1, comment="kill yourself")
    summary = RatingSummary.objects.get(product=dress)
    assert summary.review_count == 4
    assert summary.average == Decimal("4.00")
    assert summary.distribution() == [(5, 2), (4, 1), (3, 0), (2, 1), (1, 0)]
    assert catalog_version() > before


def test_listing_sorts_and_filters(dress: Product, staff: User) -> None:
    ada, grace, alan = (make_user(f"{name}@example.com") for name in ("ada", "grace", "alan"))
    _delivered(grace, staff, dress.variants.first())  # type: ignore[arg-type]
    old = services.create_review(ada, dress.pk, ReviewInput(rating=2), now=datetime(2026, 1, 1, tzinfo=UTC))
    mid = services.create_review(grace, dress.pk, ReviewInput(rating=5), now=datetime(2026, 2, 1, tzinfo=UTC))
    new = services.create_review(
        alan,
        dress.pk,
        ReviewInput(rating=4),
        uploads=[Upload(io.BytesIO(photo_bytes()))],
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )
    services.vote_helpful(grace, old.pk)

    def ids(**params: Any) -> list[int]:
        page = services.list_reviews(None, services.parse_filters({"product": dress.pk, **params}))
        return [review.pk for review in page.items]

    assert ids() == [new.pk, mid.pk, old.pk]
    assert ids(sort="helpful") == [old.pk, new.pk, mid.pk]
    assert ids(sort="highest") == [mid.pk, new.pk, old.pk]
    assert ids(sort="lowest") == [old.pk, new.pk, mid.pk]
    assert ids(rating="5") == [mid.pk]
    assert ids(with_photos="true") == [new.pk]
    assert ids(verified="1") == [mid.pk]
    assert ids(page_size="1", page="2") == [mid.pk]
    with pytest.raises(ValidationFailed) as refused:
        services.parse_filters({"sort": "random", "rating": "9"})
    assert set(refused.value.fields) == {"sort", "rating"}


def test_recent_buyers_counts_different_people_in_the_last_day(customer: User, dress: Product) -> None:
    now = datetime(2026, 5, 2, 12, tzinfo=UTC)
    variant = dress.variants.first()
    assert variant is not None
    _paid(customer, [(variant, 1)])
    _paid(customer, [(variant, 2)])
    make_order([(variant, 1)], email="unpaid@example.com")
    for order in Order.objects.all():
        Order.objects.filter(pk=order.pk).update(placed_at=now - timedelta(hours=2))
    late = _paid(make_user("grace@example.com"), [(variant, 1)])
    Order.objects.filter(pk=late.pk).update(placed_at=now - timedelta(hours=30))
    assert services.recent_buyers(dress.pk, now=now) == 1
    Order.objects.filter(pk=late.pk).update(placed_at=now - timedelta(hours=3))
    assert services.recent_buyers(dress.pk, now=now) == 2


# --- Questions and answers -------------------------------------------------------------------------------


def test_only_staff_and_verified_buyers_answer_and_answered_questions_are_shown(
    customer: User, staff: User, dress: Product
) -> None:
    asker = make_user("asker@example.com")
    question = services.ask_question(asker, dress.pk, "Does it shrink in the wash?")
    assert services.answered_questions(dress.pk) == []
    with pytest.raises(PermissionDenied):
        services.answer_question(make_user("stranger@example.com"), question.pk, "No idea")
    assert services.open_questions(customer, dress.pk) == []

    _delivered(customer, staff, dress.variants.first())  # type: ignore[arg-type]
    assert [q.pk for q in services.open_questions(customer, dress.pk)] == [question.pk]
    answer = services.answer_question(customer, question.pk, "Not at 30 degrees.")
    assert answer.by_verified_buyer and not answer.by_staff and answer.status == Status.PUBLISHED
    services.answer_question(staff, question.pk, "Wash cold and it keeps its size.")

    [shown] = services.answered_questions(dress.pk)
    assert [a.body for a in shown.answers.all()] == ["Not at 30 degrees.", "Wash cold and it keeps its size."]
    assert shown.answer_count == 2


def test_an_abusive_question_waits_for_staff(customer: User, dress: Product, staff: User) -> None:
    question = services.ask_question(customer, dress.pk, "Why is the owner such a moron?")
    assert question.status == Status.PENDING
    services.answer_question(staff, question.pk, "We are sorry you feel that way.")
    question.refresh_from_db()
    assert question.status == Status.PUBLISHED
    services.moderate_question(staff, question.pk, approve=False)
    assert services.answered_questions(dress.pk) == []


# --- Links from emails -----------------------------------------------------------------------------------


def test_a_write_link_token_names_the_customer_for_that_product_only(customer: User, dress: Product) -> None:
    token = services.write_link_token(customer.pk, dress.pk)
    assert services.user_for_link(token, dress.pk) == customer
    assert services.user_for_link(token, dress.pk + 1) is None
    assert services.user_for_link(token[:-2] + "xx", dress.pk) is None
    with override_settings(REVIEWS_LINK_MAX_AGE_DAYS=0):
        assert services.user_for_link(token, dress.pk) is None
