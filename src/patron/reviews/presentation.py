"""What the product page shows of reviews: the summary, the first reviews, the photo gallery, recent buyers, and
the schema.org markup; a bounded number of queries, skipped when there is nothing to show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from patron.accounts.models import User
from patron.catalog.models import Product
from patron.reviews import services
from patron.reviews.models import RatingSummary, Review

FIRST_PAGE = 5


@dataclass
class ProductReviews:
    context: dict[str, Any]
    structured_data: dict[str, Any]


def viewer(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


def distribution_rows(summary: RatingSummary) -> list[dict[str, int]]:
    """One row per star rating with its count and its share (whole per cent) of all reviews, for the bars."""
    total = summary.review_count or 1
    return [
        {"stars": stars, "count": count, "percent": round(100 * count / total)}
        for stars, count in summary.distribution()
    ]


def product_reviews(request: HttpRequest, product: Product) -> ProductReviews:
    """Context for storefront/product.html and the JSON-LD additions. Pages are shared between visitors, so
    nothing here depends on who asks unless they are signed in (and then the page is not shared)."""
    user = viewer(request)
    summary = services.rating_summary(product.pk)
    reviews: list[Review] = []
    if summary.review_count:
        first = services.ReviewFilters(product_id=product.pk, page_size=FIRST_PAGE)
        reviews = services.list_reviews(None, first).items
    buyers = services.recent_buyers(product.pk)
    context = {
        "rating": summary,
        "rating_rows": distribution_rows(summary),
        "reviews": reviews,
        "more_reviews": summary.review_count > len(reviews),
        "review_gallery": services.gallery(product.pk) if summary.with_photos else [],
        "recent_buyers": buyers if buyers >= settings.REVIEWS_RECENT_BUYERS_MIN else 0,
        "review_sorts": services.SORT_LABELS,
        "own_review": services.own_review(user, product.pk),
        "voted_reviews": services.has_voted(user, [review.pk for review in reviews]),
    }
    return ProductReviews(context=context, structured_data=services.structured_data(summary, reviews))
