"""/api/reviews: product reviews (read by anyone; written by signed-in customers; moderated by staff) and Q&A."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from ninja import File, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from pydantic import ConfigDict, Field, StringConstraints

from patron.accounts.auth import JWTAuth
from patron.accounts.models import User
from patron.errors import PermissionDenied
from patron.page_cache import cache_page_for_visitors
from patron.reviews import services
from patron.reviews.models import Answer, Question, RatingSummary, Review, ReviewPhoto

router = Router(tags=["reviews"])
jwt_auth = JWTAuth()
MAX_ID = 2**63 - 1

Title = Annotated[str, StringConstraints(max_length=services.TITLE_MAX_LENGTH)]
Comment = Annotated[str, StringConstraints(max_length=services.COMMENT_MAX_LENGTH)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _anyone(request: HttpRequest) -> bool:
    """Lets requests without a token through; a valid token still identifies its user."""
    return True


def _caller(request: HttpRequest) -> User | None:
    caller = getattr(request, "auth", None)
    return caller if isinstance(caller, User) else None


def _user(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


class Strict(Schema):
    # Unknown fields are refused, so that e.g. `verified` can never be sent in by hand.
    model_config = ConfigDict(extra="forbid")


class AuthorOut(Schema):
    id: int
    name: str


class PhotoOut(Schema):
    id: int
    url: str
    width: int | None
    height: int | None

    @staticmethod
    def resolve_url(photo: ReviewPhoto) -> str:
        return str(photo.image.url)


class ReplyOut(Schema):
    body: str
    at: datetime | None


class ReviewOut(Schema):
    id: int
    product: int
    variant: int | None
    variant_options: dict[str, str]
    user: AuthorOut
    rating: int
    title: str
    comment: str
    photos: list[PhotoOut]
    status: str
    verified: bool = Field(description="The author received this product (this variant) in a delivered order")
    incentivized: bool = Field(description="The author got something (e.g. loyalty points) for reviewing")
    order: int | None = Field(description="The delivered order behind the badge; shown to the author and staff")
    helpful_count: int
    reply: ReplyOut | None = Field(description="The store's public reply")
    created: datetime
    updated: datetime

    @staticmethod
    def resolve_product(review: Review) -> int:
        return review.product_id

    @staticmethod
    def resolve_variant(review: Review) -> int | None:
        return review.variant_id

    @staticmethod
    def resolve_variant_options(review: Review) -> dict[str, str]:
        options = review.variant.options if review.variant is not None else {}
        return {str(name): str(value) for name, value in options.items()}

    @staticmethod
    def resolve_user(review: Review) -> dict[str, Any]:
        return {"id": review.user_id, "name": services.author_name(review.user)}

    @staticmethod
    def resolve_photos(review: Review) -> list[ReviewPhoto]:
        return list(review.photos.all())

    @staticmethod
    def resolve_order(review: Review, context: dict[str, Any]) -> int | None:
        viewer = _caller(context["request"])
        if viewer is not None and (viewer.is_staff or viewer.pk == review.user_id):
            return review.order_id
        return None

    @staticmethod
    def resolve_reply(review: Review) -> dict[str, Any] | None:
        return {"body": review.reply, "at": review.replied_at} if review.reply else None

    @staticmethod
    def resolve_created(review: Review) -> datetime:
        return review.created_at

    @staticmethod
    def resolve_updated(review: Review) -> datetime:
        return review.updated_at


class SummaryOut(Schema):
    product: int
    review_count: int
    average: Decimal
    distribution: dict[str, int] = Field(description="Number of published reviews per star rating, '1' to '5'")
    with_photos: int

    @staticmethod
    def resolve_product(summary: RatingSummary) -> int:
        return summary.product_id

    @staticmethod
    def resolve_distribution(summary: RatingSummary) -> dict[str, int]:
        return {str(stars): count for stars, count in sorted(summary.distribution())}


class ReviewListOut(Schema):
    items: list[ReviewOut]
    total: int
    page: int
    page_size: int
    num_pages: int
    summary: SummaryOut | None = Field(description="Given when the list is of one product")


class ReviewQuery(Schema):
    product: Id | None = Field(None, description="A product id")
    sort: Literal["newest", "helpful", "highest", "lowest"] = "newest"
    rating: int | None = Field(None, ge=1, le=5, description="Only reviews with this many stars")
    with_photos: bool = False
    verified: bool = Field(False, description="Only reviews by verified buyers")
    status: Literal["pending", "published", "rejected"] | None = Field(None, description="Staff only")
    mine: bool = Field(False, description="Your own reviews, in any state (needs a token)")
    page: int = Field(1, ge=1, le=services.MAX_PAGE)
    page_size: int = Field(services.DEFAULT_PAGE_SIZE, ge=1, le=services.MAX_PAGE_SIZE)


class ReviewIn(Strict):
    product: Id
    variant: Id | None = Field(None, description="The variant bought, when it matters (e.g. a size)")
    rating: int = Field(ge=1, le=5)
    title: Title = ""
    comment: Comment = ""


class ReviewUpdateIn(Strict):
    rating: int | None = Field(None, ge=1, le=5, description="Author only")
    title: Title | None = Field(None, description="Author only")
    comment: Comment | None = Field(None, description="Author only")
    status: Literal["published", "rejected"] | None = Field(None, description="Staff only: approve or reject")
    moderation_note: Annotated[str, StringConstraints(max_length=services.NOTE_MAX_LENGTH)] = Field(
        "", description="Staff only: why, for the record"
    )
    reply: Annotated[str, StringConstraints(max_length=services.REPLY_MAX_LENGTH)] | None = Field(
        None, description="Staff only: the store's public reply ('' removes it)"
    )


class HelpfulOut(Schema):
    helpful_count: int
    counted: bool = Field(description="False when you had already found it helpful")


class ReportIn(Strict):
    reason: Literal["spam", "offensive", "off_topic", "private", "other"]
    note: Annotated[str, StringConstraints(max_length=services.NOTE_MAX_LENGTH)] = ""


class ReportOut(Schema):
    reported: bool
    status: str


class AnswerOut(Schema):
    id: int
    body: str
    author: str
    by_staff: bool
    by_verified_buyer: bool
    status: str
    created: datetime

    @staticmethod
    def resolve_author(answer: Answer) -> str:
        return "Store team" if answer.by_staff else services.author_name(answer.user)

    @staticmethod
    def resolve_created(answer: Answer) -> datetime:
        return answer.created_at


class QuestionOut(Schema):
    id: int
    product: int
    body: str
    author: str
    status: str
    answers: list[AnswerOut]
    created: datetime

    @staticmethod
    def resolve_product(question: Question) -> int:
        return question.product_id

    @staticmethod
    def resolve_author(question: Question) -> str:
        return services.author_name(question.user)

    @staticmethod
    def resolve_answers(question: Question) -> list[Answer]:
        # Listed questions come with their published answers prefetched; a question just asked has none.
        return list(question.answers.all())

    @staticmethod
    def resolve_created(question: Question) -> datetime:
        return question.created_at


class QuestionIn(Strict):
    product: Id
    body: Annotated[str, StringConstraints(min_length=1, max_length=services.QUESTION_MAX_LENGTH)]


class AnswerIn(Strict):
    body: Annotated[str, StringConstraints(min_length=1, max_length=services.ANSWER_MAX_LENGTH)]


def _page(request: HttpRequest, params: ReviewQuery) -> dict[str, Any]:
    filters = services.parse_filters(params.model_dump())
    page = services.list_reviews(_caller(request), filters)
    summary = services.rating_summary(filters.product_id) if filters.product_id is not None else None
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "num_pages": page.num_pages,
        "summary": summary,
    }


# The collection answers with and without the trailing slash, so that clients never meet a redirect.
@router.get("", response=ReviewListOut, auth=[jwt_auth, _anyone], include_in_schema=False)
@router.get(
    "/",
    response=ReviewListOut,
    auth=[jwt_auth, _anyone],
    summary="Reviews, e.g. of one product, sorted and filtered",
    description="Published reviews for everyone. With a token, `mine=true` lists your own in any state; staff may "
    "filter by `status` (e.g. the `pending` moderation queue).",
)
@decorate_view(cache_page_for_visitors())
def list_reviews(request: HttpRequest, params: Query[ReviewQuery]) -> dict[str, Any]:
    return _page(request, params)


@router.get("/summary", response=SummaryOut, summary="A product's average rating and rating distribution")
@decorate_view(cache_page_for_visitors())
def summary(request: HttpRequest, product: Annotated[int, Query(ge=1, le=MAX_ID)]) -> RatingSummary:
    return services.rating_summary(product)


@router.post("", response={201: ReviewOut}, auth=jwt_auth, include_in_schema=False)
@router.post(
    "/",
    response={201: ReviewOut},
    auth=jwt_auth,
    summary="Review a product (once); add photos with POST /{id}/photos",
    description="The review is published at once, or held for approval when the store moderates reviews or the "
    "text looks like spam or abuse. `verified` is set by the store from your delivered orders.",
)
def create_review(request: HttpRequest, payload: ReviewIn) -> Status[Review]:
    data = services.ReviewInput(
        rating=payload.rating, title=payload.title, comment=payload.comment, variant_id=payload.variant
    )
    review = services.create_review(_user(request), payload.product, data)
    return Status(201, services.get_review(_user(request), review.pk))


@router.get("/{int:review_id}", response=ReviewOut, auth=[jwt_auth, _anyone], summary="One review")
def get_review(request: HttpRequest, review_id: int) -> Review:
    return services.get_review(_caller(request), review_id)


@router.put(
    "/{int:review_id}",
    response=ReviewOut,
    auth=jwt_auth,
    summary="Edit your review, or moderate and reply to one (staff)",
)
def update_review(request: HttpRequest, review_id: int, payload: ReviewUpdateIn) -> Review:
    user = _user(request)
    edits = payload.rating is not None or payload.title is not None or payload.comment is not None
    staff_fields = payload.status is not None or payload.reply is not None or bool(payload.moderation_note)
    if staff_fields and not user.is_staff:
        raise PermissionDenied("Only staff may moderate or reply to reviews.")
    if edits:
        changes = services.ReviewChanges(rating=payload.rating, title=payload.title, comment=payload.comment)
        services.update_review(user, review_id, changes)
    if payload.status is not None:
        approve = payload.status == "published"
        services.moderate_review(user, review_id, approve=approve, note=payload.moderation_note)
    if payload.reply is not None:
        services.reply_to_review(user, review_id, payload.reply)
    return services.get_review(user, review_id)


@router.delete("/{int:review_id}", response={204: None}, auth=jwt_auth, summary="Delete your review (or any: staff)")
def delete_review(request: HttpRequest, review_id: int) -> Status[None]:
    services.delete_review(_user(request), review_id)
    return Status(204, None)


@router.post(
    "/{int:review_id}/photos",
    response={201: list[PhotoOut]},
    auth=jwt_auth,
    summary="Add photos to your review",
    description="Multipart field `photos` (repeatable): JPEG, PNG, WebP or GIF within the size limit. Photos are "
    "re-encoded as JPEG, scaled down and stripped of their metadata (such as the EXIF location).",
)
def add_photos(request: HttpRequest, review_id: int, photos: File[list[UploadedFile]]) -> Status[list[ReviewPhoto]]:
    uploads = [services.Upload(file=photo, size=photo.size) for photo in photos]
    return Status(201, services.add_photos(_user(request), review_id, uploads))


@router.delete("/{int:review_id}/photos/{int:photo_id}", response={204: None}, auth=jwt_auth, summary="Remove a photo")
def delete_photo(request: HttpRequest, review_id: int, photo_id: int) -> Status[None]:
    services.delete_photo(_user(request), review_id, photo_id)
    return Status(204, None)


@router.post("/{int:review_id}/helpful", response=HelpfulOut, auth=jwt_auth, summary="Was this helpful? Yes (once)")
def helpful(request: HttpRequest, review_id: int) -> dict[str, Any]:
    count, counted = services.vote_helpful(_user(request), review_id)
    return {"helpful_count": count, "counted": counted}


@router.post("/{int:review_id}/report", response={201: ReportOut}, auth=jwt_auth, summary="Report a review (once)")
def report(request: HttpRequest, review_id: int, payload: ReportIn) -> Status[dict[str, Any]]:
    review = services.report_review(_user(request), review_id, payload.reason, payload.note)
    return Status(201, {"reported": True, "status": "published" if review.is_published else "under review"})


@router.get("/questions", response=list[QuestionOut], summary="A product's answered questions")
@decorate_view(cache_page_for_visitors())
def questions(
    request: HttpRequest,
    product: Annotated[int, Query(ge=1, le=MAX_ID)],
    limit: Annotated[int, Query(ge=1, le=50)] = services.QUESTIONS_SHOWN,
) -> list[Question]:
    return services.answered_questions(product, limit)


@router.post("/questions", response={201: QuestionOut}, auth=jwt_auth, summary="Ask about a product")
def ask(request: HttpRequest, payload: QuestionIn) -> Status[Question]:
    return Status(201, services.ask_question(_user(request), payload.product, payload.body))


@router.post(
    "/questions/{int:question_id}/answers",
    response={201: AnswerOut},
    auth=jwt_auth,
    summary="Answer a question (staff and customers who received the product)",
)
def answer(request: HttpRequest, question_id: int, payload: AnswerIn) -> Status[Answer]:
    return Status(201, services.answer_question(_user(request), question_id, payload.body))
