"""Review insights for the merchant: the rating trend per month, and the themes of positive and negative reviews
(see `patron.reviews.themes`) of one product or the whole store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Avg, Count
from django.db.models.functions import TruncMonth
from django.utils import timezone

from patron.reviews.models import Review, Status
from patron.reviews.themes import NEGATIVE, POSITIVE, Themes, extract_themes, review_text

MAX_REVIEWS = 5000


def review_themes(product_id: int | None = None, *, top: int = 10) -> Themes:
    """Themes of the published reviews of a product (or of the whole store), newest MAX_REVIEWS per group."""
    published = Review.objects.filter(status=Status.PUBLISHED).exclude(comment="")
    if product_id is not None:
        published = published.filter(product_id=product_id)

    def texts(ratings: frozenset[int]) -> list[str]:
        rows = published.filter(rating__in=ratings).order_by("-created_at").values_list("title", "comment")
        return [review_text(title, comment) for title, comment in rows[:MAX_REVIEWS]]

    return extract_themes(texts(POSITIVE), texts(NEGATIVE), top=top)


@dataclass(frozen=True)
class Month:
    month: date
    reviews: int
    average: Decimal | None


def month_start(moment: datetime, back: int = 0) -> datetime:
    """Midnight on the first day of the calendar month `back` months before `moment`'s."""
    index = moment.year * 12 + moment.month - 1 - back
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def rating_trend(product_id: int | None = None, *, months: int = 12, now: datetime | None = None) -> list[Month]:
    """Every one of the last `months` calendar months (oldest first) with its number of published reviews and
    their average rating (None in a month without reviews)."""
    now = timezone.localtime(now or timezone.now())
    start = month_start(now, months - 1)
    published = Review.objects.filter(status=Status.PUBLISHED, created_at__gte=start)
    if product_id is not None:
        published = published.filter(product_id=product_id)
    rows = (
        published.annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(reviews=Count("id"), average=Avg("rating"))
        .order_by("month")
    )
    found = {
        timezone.localtime(row["month"]).date() if isinstance(row["month"], datetime) else row["month"]: row
        for row in rows
    }
    trend = []
    for back in range(months - 1, -1, -1):
        month = month_start(now, back).date()
        row = found.get(month)
        average = Decimal(str(row["average"])).quantize(Decimal("0.01")) if row else None
        trend.append(Month(month, int(row["reviews"]) if row else 0, average))
    return trend
