"""Template helpers for ratings: stars, and product cards' ratings read for a whole grid in one query."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from patron.catalog.models import Product
from patron.reviews.models import RatingSummary
from patron.reviews.services import author_name, summaries

register = template.Library()

# The largest grid a page shows; ratings of more products than this are read one grid at a time.
MAX_BATCH = 100
_MEMO = "_patron_card_ratings"


@register.inclusion_tag("reviews/_stars.html")
def stars(value: Decimal | int | float | None, size: str = "") -> dict[str, Any]:
    rating = Decimal(str(value or 0))
    return {"rating": rating, "percent": float(rating / 5 * 100), "size": size}


@register.simple_tag(takes_context=True)
def card_rating(context: template.Context, product: Product) -> RatingSummary | None:
    """The product's rating summary. The first card of a grid reads those of every product in the grid
    (`products` in the context) at once, so a page of cards runs one query, not one per card."""
    memo: dict[int, RatingSummary | None] | None = getattr(context, _MEMO, None)
    if memo is None:
        memo = {}
        setattr(context, _MEMO, memo)
    if product.pk not in memo:
        grid = context.get("products")
        ids = [product.pk]
        if isinstance(grid, (list, tuple)):
            ids += [item.pk for item in grid[:MAX_BATCH] if isinstance(item, Product) and item.pk not in memo]
        found = summaries(ids)
        memo.update({pk: found.get(pk) for pk in ids})
    return memo[product.pk]


@register.filter
def reviewer(user: Any) -> str:
    return author_name(user)


@register.filter
def has(collection: Any, item: Any) -> bool:
    """`voted_reviews|has:review.pk` — whether a set (or list) holds the item."""
    try:
        return item in collection
    except TypeError:
        return False
