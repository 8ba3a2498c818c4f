"""Reviews, ratings and customer Q&A: every rule lives here; the API, the web pages and the back-office call it.

- A review is "verified" only when its author has a delivered order line of the product (of the very variant,
  when the review names one); nothing else can set it.
- One review per customer and product (a unique constraint backs the check).
- New and edited texts go through the spam and abuse check (`moderation.check_text`); flagged ones, and all of
  them when the merchant turned auto-publishing off, wait for staff. Enough reports send a published review back.
- Whenever what shoppers see changes (a review published, edited, hidden, replied to), the product's
  `RatingSummary` is rebuilt under a row lock and the catalog version is bumped, so cached pages show it.
- Publishing a review for the first time emits `ReviewApproved` (the loyalty program rewards it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from math import ceil
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from patron import events
from patron.accounts.models import User
from patron.catalog.models import Product, Variant
from patron.catalog.services import COUNTED_ORDER_STATUSES, bump_catalog_version
from patron.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from patron.orders.models import Order, OrderLine, OrderStatus
from patron.reviews import moderation, photos
from patron.reviews.models import (
    Answer,
    HelpfulVote,
    Question,
    RatingSummary,
    ReportReason,
    Review,
    ReviewPhoto,
    ReviewReport,
    ReviewSettings,
    Status,
)

TITLE_MAX_LENGTH = 150
COMMENT_MAX_LENGTH = 5000
QUESTION_MAX_LENGTH = 1000
ANSWER_MAX_LENGTH = 2000
REPLY_MAX_LENGTH = 2000
NOTE_MAX_LENGTH = 500
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 50
MAX_PAGE = 10_000
GALLERY_SIZE = 12
QUESTIONS_SHOWN = 5
STRUCTURED_REVIEWS = 5
REPORTED = "reported"
SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-created_at", "-id"),
    "helpful": ("-helpful_count", "-created_at", "-id"),
    "highest": ("-rating", "-created_at", "-id"),
    "lowest": ("rating", "-created_at", "-id"),
}
SORT_LABELS = {"newest": "Newest", "helpful": "Most helpful", "highest": "Highest rating", "lowest": "Lowest rating"}
LINK_SALT = "patron.reviews.write-link"
CENT = Decimal("0.01")


# --- Small helpers ---------------------------------------------------------------------------------------


def _signed_in(user: User | None) -> User:
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotAuthenticated("Sign in first.")
    return user


def _is_staff(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active and user.is_staff


def _require_staff(user: User | None) -> User:
    user = _signed_in(user)
    if not user.is_staff:
        raise PermissionDenied("Only staff may do this.")
    return user


def _text(field_name: str, value: str, max_length: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise ValidationFailed("The text contains a null character.", fields={field_name: ["Remove it."]})
    if required and not value:
        raise ValidationFailed("Please fill in the text.", fields={field_name: ["This field is required."]})
    if len(value) > max_length:
        message = f"Use at most {max_length} characters."
        raise ValidationFailed(message, fields={field_name: [message]})
    return value


def _rating(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationFailed("Give 1 to 5 stars.", fields={"rating": ["Choose from 1 to 5 stars."]})
    return value


def author_name(user: User) -> str:
    """How a reviewer is shown: first name and the initial of the last ("Ada L."), never the email."""
    parts = user.name.split()
    if not parts:
        return "A customer"
    return parts[0] if len(parts) == 1 else f"{parts[0]} {parts[-1][0]}."


def settings_row() -> ReviewSettings:
    return ReviewSettings.load()


# --- Verification ----------------------------------------------------------------------------------------


def delivered_order_for(user: User, product_id: int, variant_id: int | None = None) -> Order | None:
    """The customer's latest delivered order with a line of the product (of that variant when given)."""
    lines = OrderLine.objects.filter(order__user=user, order__status=OrderStatus.DELIVERED, product_id=product_id)
    if variant_id is not None:
        lines = lines.filter(variant_id=variant_id)
    line = lines.select_related("order").order_by("-order__placed_at", "-order_id").first()
    return line.order if line is not None else None


def is_verified_buyer(user: User | None, product_id: int) -> bool:
    return user is not None and user.is_authenticated and delivered_order_for(user, product_id) is not None


def verify_reviews_for_order(order_id: int) -> int:
    """An order was delivered: its customer's reviews of what it held become verified. Safe to repeat."""
    order = Order.objects.filter(pk=order_id, status=OrderStatus.DELIVERED, user__isnull=False).first()
    if order is None or order.user_id is None:
        return 0
    lines = list(order.lines.values_list("product_id", "variant_id"))
    products = {product_id for product_id, _ in lines}
    variants = {variant_id for _, variant_id in lines}
    waiting = Review.objects.filter(user_id=order.user_id, product_id__in=products, verified=False).filter(
        Q(variant__isnull=True) | Q(variant_id__in=variants)
    )
    changed = waiting.update(verified=True, order=order)
    if changed:
        bump_catalog_version()
    return changed


# --- Rating summaries ------------------------------------------------------------------------------------


def rating_summary(product_id: int) -> RatingSummary:
    """The product's summary; an unsaved empty one when it has no published review yet."""
    return RatingSummary.objects.filter(product_id=product_id).first() or RatingSummary(product_id=product_id)


def summaries(product_ids: Iterable[int]) -> dict[int, RatingSummary]:
    """Summaries of many products in one query (products without reviews are left out)."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    found = RatingSummary.objects.filter(product_id__in=ids, review_count__gt=0)
    return {summary.product_id: summary for summary in found}


def refresh_summary(product_id: int) -> RatingSummary:
    """Rebuild the product's summary from its published reviews, and make cached pages show it."""
    with transaction.atomic():
        RatingSummary.objects.get_or_create(product_id=product_id)
        # The lock makes concurrent rebuilds of one product take turns, so the last one counts everything.
        summary = RatingSummary.objects.select_for_update().get(product_id=product_id)
        published = Review.objects.filter(product_id=product_id, status=Status.PUBLISHED)
        counts = dict(published.order_by().values_list("rating").annotate(n=Count("id")))
        total = sum(counts.values())
        for stars in range(1, 6):
            setattr(summary, f"stars_{stars}", counts.get(stars, 0))
        summary.review_count = total
        points = sum(stars * count for stars, count in counts.items())
        summary.average = (Decimal(points) / total).quantize(CENT, ROUND_HALF_UP) if total else Decimal("0.00")
        summary.with_photos = published.filter(photos__isnull=False).values("pk").distinct().count()
        summary.save()
        bump_catalog_version()
    return summary


# --- Writing reviews -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewInput:
    rating: int
    title: str = ""
    comment: str = ""
    variant_id: int | None = None


@dataclass(frozen=True)
class ReviewChanges:
    rating: int | None = None
    title: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Upload:
    """A photo as received: its content and, when the transport knows it, its declared size."""

    file: IO[bytes]
    size: int | None = None


def _product(product_id: int) -> Product:
    product = Product.objects.filter(pk=product_id, is_active=True).first()
    if product is None:
        raise NotFound("No such product.")
    return product


def _variant(product: Product, variant_id: int | None) -> Variant | None:
    if variant_id is None:
        return None
    variant = Variant.objects.filter(pk=variant_id, product=product).first()
    if variant is None:
        raise ValidationFailed("That option is not one of this product's.", fields={"variant": ["Choose another."]})
    return variant


def _status_for(flags: list[str], config: ReviewSettings) -> str:
    return Status.PUBLISHED if config.auto_publish and not flags else Status.PENDING


def _processed_photos(uploads: Sequence[Upload], already: int = 0) -> list[ContentFile[bytes]]:
    limit = settings.REVIEWS_MAX_PHOTOS
    if already + len(uploads) > limit:
        message = f"Add at most {limit} photos to a review."
        raise ValidationFailed(message, fields={"photos": [message]})
    return [photos.process(upload.file, size=upload.size) for upload in uploads]


def _store_photos(review: Review, contents: Sequence[ContentFile[bytes]], start: int, into: list[ReviewPhoto]) -> None:
    """Save the photos, appending each to `into` so that the caller can delete the files if its transaction fails
    (files are not part of the database transaction)."""
    for offset, content in enumerate(contents):
        photo = ReviewPhoto(review=review, position=start + offset)
        photo.image.save(str(content.name), content, save=False)
        into.append(photo)
        photo.save()


def _delete_files(names: Iterable[str | None]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def _became_public(review: Review) -> None:
    """Whatever shoppers see of the product changed: rebuild its summary (which bumps the catalog version)."""
    refresh_summary(review.product_id)


def _announce_if_first_publication(review: Review, was_published_before: bool) -> None:
    if review.status == Status.PUBLISHED and not was_published_before:
        events.publish(events.ReviewApproved(review_id=review.pk, user_id=review.user_id, product_id=review.product_id))


def create_review(
    user: User | None,
    product_id: int,
    data: ReviewInput,
    *,
    uploads: Sequence[Upload] = (),
    now: datetime | None = None,
) -> Review:
    """A customer reviews a product once; verified when they have a delivered order of it."""
    user = _signed_in(user)
    now = now or timezone.now()
    product = _product(product_id)
    variant = _variant(product, data.variant_id)
    rating = _rating(data.rating)
    title = _text("title", data.title, TITLE_MAX_LENGTH)
    comment = _text("comment", data.comment, COMMENT_MAX_LENGTH)
    if Review.objects.filter(user=user, product=product).exists():
        raise Conflict("You have already reviewed this product; edit your review instead.", code="already_reviewed")
    contents = _processed_photos(uploads)
    config = settings_row()
    flags = moderation.check_text(title, comment)
    order = delivered_order_for(user, product.pk, variant.pk if variant else None)
    status = _status_for(flags, config)
    stored: list[ReviewPhoto] = []
    try:
        with transaction.atomic():
            review = Review.objects.create(
                product=product,
                variant=variant,
                user=user,
                order=order,
                verified=order is not None,
                incentivized=config.reviews_are_rewarded,
                rating=rating,
                title=title,
                comment=comment,
                status=status,
                moderation_flags=flags,
                created_at=now,
                updated_at=now,
                published_at=now if status == Status.PUBLISHED else None,
            )
            _store_photos(review, contents, 0, stored)
            if status == Status.PUBLISHED:
                _became_public(review)
            _announce_if_first_publication(review, False)
    except Exception as error:
        _delete_files(photo.image.name for photo in stored)
        if isinstance(error, IntegrityError):
            message = "You have already reviewed this product; edit your review instead."
            raise Conflict(message, code="already_reviewed") from None
        raise
    return review


def _own_review(user: User, review_id: int) -> Review:
    review = Review.objects.select_for_update().filter(pk=review_id).first()
    if review is None or (review.user_id != user.pk and not user.is_staff):
        raise NotFound("No such review.")
    return review


def update_review(user: User | None, review_id: int, changes: ReviewChanges, *, now: datetime | None = None) -> Review:
    """The author changes their review; it is checked again and, unless auto-published, approved again."""
    user = _signed_in(user)
    now = now or timezone.now()
    with transaction.atomic():
        review = _own_review(user, review_id)
        if review.user_id != user.pk:
            raise PermissionDenied("Only the author may change a review's text; staff moderate it.")
        if changes.rating is not None:
            review.rating = _rating(changes.rating)
        if changes.title is not None:
            review.title = _text("title", changes.title, TITLE_MAX_LENGTH)
        if changes.comment is not None:
            review.comment = _text("comment", changes.comment, COMMENT_MAX_LENGTH)
        was_published = review.published_at is not None
        was_public = review.is_published
        review.moderation_flags = moderation.check_text(review.title, review.comment)
        review.status = _status_for(review.moderation_flags, settings_row())
        review.updated_at = now
        if review.status == Status.PUBLISHED and review.published_at is None:
            review.published_at = now
        review.save()
        if was_public or review.is_published:
            _became_public(review)
        _announce_if_first_publication(review, was_published)
    return review


def moderate_review(actor: User | None, review_id: int, *, approve: bool, note: str = "") -> Review:
    """Staff publish a held review or reject one (published or not)."""
    _require_staff(actor)
    note = _text("note", note, NOTE_MAX_LENGTH)
    with transaction.atomic():
        review = Review.objects.select_for_update().filter(pk=review_id).first()
        if review is None:
            raise NotFound("No such review.")
        was_published = review.published_at is not None
        was_public = review.is_published
        review.status = Status.PUBLISHED if approve else Status.REJECTED
        review.moderation_note = note
        if approve:
            # Reports already weighed by a person do not count towards sending it back again.
            review.report_count = 0
            review.published_at = review.published_at or timezone.now()
        review.save(update_fields=["status", "moderation_note", "report_count", "published_at"])
        if was_public or review.is_published:
            _became_public(review)
        _announce_if_first_publication(review, was_published)
    return review


def reply_to_review(actor: User | None, review_id: int, body: str, *, now: datetime | None = None) -> Review:
    """The merchant's public reply under a review; an empty body removes it."""
    staff = _require_staff(actor)
    body = _text("reply", body, REPLY_MAX_LENGTH)
    with transaction.atomic():
        review = Review.objects.select_for_update().filter(pk=review_id).first()
        if review is None:
            raise NotFound("No such review.")
        review.reply = body
        review.replied_at = (now or timezone.now()) if body else None
        review.replied_by = staff if body else None
        review.save(update_fields=["reply", "replied_at", "replied_by"])
        if review.is_published:
            bump_catalog_version()
    return review


def delete_review(user: User | None, review_id: int) -> None:
    """The author (or staff) removes a review with its photos."""
    user = _signed_in(user)
    with transaction.atomic():
        review = _own_review(user, review_id)
        names = [str(photo.image.name) for photo in review.photos.all()]
        was_public = review.is_published
        product_id = review.product_id
        review.delete()
        if was_public:
            refresh_summary(product_id)
        transaction.on_commit(lambda: _delete_files(names))


def add_photos(user: User | None, review_id: int, uploads: Sequence[Upload]) -> list[ReviewPhoto]:
    """More photos on the author's review, checked and re-encoded like those sent with it."""
    user = _signed_in(user)
    review = Review.objects.filter(pk=review_id, user=user).first()
    if review is None:
        raise NotFound("No such review.")
    contents = _processed_photos(uploads, already=review.photos.count())
    stored: list[ReviewPhoto] = []
    try:
        with transaction.atomic():
            last = review.photos.order_by("-position").values_list("position", flat=True).first()
            _store_photos(review, contents, 0 if last is None else last + 1, stored)
            if review.is_published:
                _became_public(review)
    except Exception:
        _delete_files(photo.image.name for photo in stored)
        raise
    return stored


def delete_photo(user: User | None, review_id: int, photo_id: int) -> None:
    user = _signed_in(user)
    with transaction.atomic():
        review = _own_review(user, review_id)
        photo = review.photos.filter(pk=photo_id).first()
        if photo is None:
            raise NotFound("No such photo.")
        name = str(photo.image.name)
        photo.delete()
        if review.is_published:
            _became_public(review)
        transaction.on_commit(lambda: _delete_files([name]))


# --- Votes and reports -----------------------------------------------------------------------------------


def _published_review(review_id: int) -> Review:
    review = Review.objects.filter(pk=review_id, status=Status.PUBLISHED).first()
    if review is None:
        raise NotFound("No such review.")
    return review


def vote_helpful(user: User | None, review_id: int) -> tuple[int, bool]:
    """Count the person's "helpful" once: (the review's helpful count, whether this vote was new)."""
    user = _signed_in(user)
    review = _published_review(review_id)
    if review.user_id == user.pk:
        raise PermissionDenied("You cannot vote for your own review.")
    try:
        with transaction.atomic():
            HelpfulVote.objects.create(review=review, user=user)
            Review.objects.filter(pk=review.pk).update(helpful_count=F("helpful_count") + 1)
    except IntegrityError:
        created = False
    else:
        created = True
    count = Review.objects.filter(pk=review.pk).values_list("helpful_count", flat=True).get()
    return int(count), created


def has_voted(user: User | None, review_ids: Iterable[int]) -> set[int]:
    if user is None or not user.is_authenticated:
        return set()
    return set(
        HelpfulVote.objects.filter(user=user, review_id__in=list(review_ids)).values_list("review_id", flat=True)
    )


def report_review(user: User | None, review_id: int, reason: str, note: str = "") -> Review:
    """A person reports a review once; enough reports send it back for approval."""
    user = _signed_in(user)
    if reason not in ReportReason.values:
        choices = ", ".join(ReportReason.values)
        raise ValidationFailed("Choose a reason.", fields={"reason": [f"Choose one of {choices}."]})
    note = _text("note", note, NOTE_MAX_LENGTH)
    review = _published_review(review_id)
    try:
        with transaction.atomic():
            ReviewReport.objects.create(review=review, user=user, reason=reason, note=note)
            locked = Review.objects.select_for_update().get(pk=review.pk)
            locked.report_count += 1
            held = locked.report_count >= settings_row().report_threshold and locked.is_published
            if held:
                locked.status = Status.PENDING
                locked.moderation_flags = sorted({*locked.moderation_flags, REPORTED})
            locked.save(update_fields=["report_count", "status", "moderation_flags"])
            if held:
                _became_public(locked)
    except IntegrityError:
        raise Conflict("You have already reported this review.", code="already_reported") from None
    return locked


# --- Reading reviews -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFilters:
    product_id: int | None = None
    sort: str = "newest"
    rating: int | None = None
    with_photos: bool = False
    verified: bool = False
    status: str | None = None
    mine: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass
class ReviewPage:
    items: list[Review]
    total: int
    page: int
    page_size: int
    filters: ReviewFilters = field(default_factory=ReviewFilters)

    @property
    def num_pages(self) -> int:
        return max(1, ceil(self.total / self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages


def parse_filters(params: dict[str, Any]) -> ReviewFilters:
    """Filters from query parameters (strings from the web, typed values from the API)."""
    errors: dict[str, list[str]] = {}

    def number(name: str, low: int, high: int, default: int | None) -> int | None:
        raw = params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            errors[name] = ["Give a whole number."]
            return default
        if not low <= value <= high:
            errors[name] = [f"Give a number from {low} to {high}."]
            return default
        return value

    def flag(name: str) -> bool:
        raw = params.get(name)
        return raw is True or str(raw).lower() in {"1", "true", "yes", "on"}

    sort = str(params.get("sort") or "newest")
    if sort not in SORTS:
        errors["sort"] = [f"Choose one of {', '.join(SORTS)}."]
        sort = "newest"
    status = params.get("status") or None
    if status is not None and status not in Status.values:
        errors["status"] = [f"Choose one of {', '.join(Status.values)}."]
    filters = ReviewFilters(
        product_id=number("product", 1, 2**63 - 1, None),
        sort=sort,
        rating=number("rating", 1, 5, None),
        with_photos=flag("with_photos"),
        verified=flag("verified"),
        status=status,
        mine=flag("mine"),
        page=number("page", 1, MAX_PAGE, 1) or 1,
        page_size=number("page_size", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE,
    )
    if errors:
        raise ValidationFailed("Some filters are not valid.", fields=errors)
    return filters


def _with_details(queryset: QuerySet[Review]) -> QuerySet[Review]:
    return queryset.select_related("user", "variant").prefetch_related(
        Prefetch("photos", queryset=ReviewPhoto.objects.order_by("position", "id"))
    )


def list_reviews(viewer: User | None, filters: ReviewFilters) -> ReviewPage:
    """Published reviews for everyone; a customer's own in any state with `mine`; staff may filter by status."""
    queryset = Review.objects.all()
    if filters.mine:
        queryset = queryset.filter(user=_signed_in(viewer))
        if filters.status:
            queryset = queryset.filter(status=filters.status)
    elif _is_staff(viewer) and filters.status:
        queryset = queryset.filter(status=filters.status)
    elif filters.status and filters.status != Status.PUBLISHED:
        raise PermissionDenied("Only staff may list reviews that are not published.")
    else:
        queryset = queryset.filter(status=Status.PUBLISHED)
    if filters.product_id is not None:
        queryset = queryset.filter(product_id=filters.product_id)
    if filters.rating is not None:
        queryset = queryset.filter(rating=filters.rating)
    if filters.verified:
        queryset = queryset.filter(verified=True)
    if filters.with_photos:
        queryset = queryset.filter(Q(pk__in=ReviewPhoto.objects.values("review_id")))
    total = queryset.count()
    start = (filters.page - 1) * filters.page_size
    items = list(_with_details(queryset.order_by(*SORTS[filters.sort]))[start : start + filters.page_size])
    return ReviewPage(items=items, total=total, page=filters.page, page_size=filters.page_size, filters=filters)


def get_review(viewer: User | None, review_id: int) -> Review:
    """A published review, or one of the viewer's own, or any for staff."""
    review = _with_details(Review.objects.filter(pk=review_id)).first()
    if review is None:
        raise NotFound("No such review.")
    if review.is_published or _is_staff(viewer):
        return review
    if viewer is not None and viewer.is_authenticated and review.user_id == viewer.pk:
        return review
    raise NotFound("No such review.")


def own_review(user: User | None, product_id: int) -> Review | None:
    if user is None or not user.is_authenticated:
        return None
    return Review.objects.filter(user=user, product_id=product_id).first()


def gallery(product_id: int, limit: int = GALLERY_SIZE) -> list[ReviewPhoto]:
    """The newest photos from the product's published reviews."""
    published = ReviewPhoto.objects.filter(review__product_id=product_id, review__status=Status.PUBLISHED)
    return list(published.select_related("review").order_by("-review__created_at", "position", "id")[:limit])


def recent_buyers(product_id: int, *, hours: int = 24, now: datetime | None = None) -> int:
    """How many different people ordered (and paid for) the product in the last `hours`."""
    since = (now or timezone.now()) - timedelta(hours=hours)
    lines = OrderLine.objects.filter(
        product_id=product_id, order__placed_at__gte=since, order__status__in=COUNTED_ORDER_STATUSES
    )
    return int(lines.values("order__email").distinct().count())


# --- Links from review-request emails --------------------------------------------------------------------


def write_link_token(user_id: int, product_id: int) -> str:
    """Lets the customer write their review of this product from the email, without signing in first."""
    return signing.dumps({"u": user_id, "p": product_id}, salt=LINK_SALT, compress=True)


def user_for_link(token: str, product_id: int) -> User | None:
    """The customer a write link was made for, if the token is genuine, recent and for this product."""
    if not token:
        return None
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=timedelta(days=settings.REVIEWS_LINK_MAX_AGE_DAYS))
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p") != product_id or not isinstance(data.get("u"), int):
        return None
    return User.objects.filter(pk=data["u"], is_active=True).first()


# --- Questions and answers -------------------------------------------------------------------------------


def ask_question(user: User | None, product_id: int, body: str, *, now: datetime | None = None) -> Question:
    """A shopper asks about a product; flagged questions wait for staff, others wait for an answer."""
    user = _signed_in(user)
    product = _product(product_id)
    body = _text("body", body, QUESTION_MAX_LENGTH, required=True)
    flags = moderation.check_text(body)
    return Question.objects.create(
        product=product,
        user=user,
        body=body,
        status=Status.PENDING if flags else Status.PUBLISHED,
        moderation_flags=flags,
        created_at=now or timezone.now(),
    )


def _count_answers(question_id: int) -> None:
    published = Answer.objects.filter(question_id=question_id, status=Status.PUBLISHED).count()
    Question.objects.filter(pk=question_id).update(answer_count=published)
    bump_catalog_version()


def answer_question(user: User | None, question_id: int, body: str, *, now: datetime | None = None) -> Answer:
    """Staff, or a customer who received the product, answer a question."""
    user = _signed_in(user)
    question = Question.objects.filter(pk=question_id).exclude(status=Status.REJECTED).first()
    if question is None:
        raise NotFound("No such question.")
    staff = _is_staff(user)
    verified = is_verified_buyer(user, question.product_id)
    if not (staff or verified):
        raise PermissionDenied("Only staff and customers who received this product can answer.")
    body = _text("body", body, ANSWER_MAX_LENGTH, required=True)
    flags = [] if staff else moderation.check_text(body)
    with transaction.atomic():
        answer = Answer.objects.create(
            question=question,
            user=user,
            body=body,
            by_staff=staff,
            by_verified_buyer=verified,
            status=Status.PENDING if flags else Status.PUBLISHED,
            moderation_flags=flags,
            created_at=now or timezone.now(),
        )
        if staff and question.status == Status.PENDING:
            # Staff answering a held question have read it: it may be shown.
            Question.objects.filter(pk=question.pk).update(status=Status.PUBLISHED)
        _count_answers(question.pk)
    return answer


def moderate_question(actor: User | None, question_id: int, *, approve: bool) -> Question:
    _require_staff(actor)
    with transaction.atomic():
        question = Question.objects.select_for_update().filter(pk=question_id).first()
        if question is None:
            raise NotFound("No such question.")
        question.status = Status.PUBLISHED if approve else Status.REJECTED
        question.save(update_fields=["status"])
        bump_catalog_version()
    return question


def moderate_answer(actor: User | None, answer_id: int, *, approve: bool) -> Answer:
    _require_staff(actor)
    with transaction.atomic():
        answer = Answer.objects.select_for_update().filter(pk=answer_id).first()
        if answer is None:
            raise NotFound("No such answer.")
        answer.status = Status.PUBLISHED if approve else Status.REJECTED
        answer.save(update_fields=["status"])
        _count_answers(answer.question_id)
    return answer


def answered_questions(product_id: int, limit: int = QUESTIONS_SHOWN) -> list[Question]:
    """Published questions with at least one published answer, newest first, answers prefetched."""
    answers = Prefetch(
        "answers",
        queryset=Answer.objects.filter(status=Status.PUBLISHED).select_related("user").order_by("created_at", "id"),
    )
    found = Question.objects.filter(product_id=product_id, status=Status.PUBLISHED, answer_count__gt=0)
    return list(found.select_related("user").prefetch_related(answers).order_by("-created_at", "-id")[:limit])


def open_questions(user: User | None, product_id: int, limit: int = QUESTIONS_SHOWN) -> list[Question]:
    """Unanswered questions, for the people who may answer them (staff and verified buyers)."""
    if user is None or not (_is_staff(user) or is_verified_buyer(user, product_id)):
        return []
    found = Question.objects.filter(product_id=product_id, status=Status.PUBLISHED, answer_count=0)
    return list(found.order_by("-created_at", "-id")[:limit])


# --- Search engines --------------------------------------------------------------------------------------


def structured_data(summary: RatingSummary, reviews: Sequence[Review]) -> dict[str, Any]:
    """schema.org AggregateRating and Review entries to merge into the product's JSON-LD; {} without reviews."""
    if not summary.review_count:
        return {}
    return {
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": str(summary.average),
            "reviewCount": summary.review_count,
            "bestRating": 5,
            "worstRating": 1,
        },
        "review": [
            {
                "@type": "Review",
                "author": {"@type": "Person", "name": author_name(review.user)},
                "datePublished": review.created_at.date().isoformat(),
                "name": review.title,
                "reviewBody": review.comment,
                "reviewRating": {"@type": "Rating", "ratingValue": review.rating, "bestRating": 5, "worstRating": 1},
            }
            for review in reviews[:STRUCTURED_REVIEWS]
        ],
    }
