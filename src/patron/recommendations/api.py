"""GET /api/recommendations: the recommendations of one page slot, for anonymous and signed-in callers."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest, JsonResponse
from ninja import Query, Router, Schema
from pydantic import Field

from patron.accounts.auth import JWTAuth
from patron.accounts.models import User
from patron.analytics.visitor import visitor
from patron.cart.services import CART_TOKEN_HEADER, TOKEN_MAX_LENGTH
from patron.recommendations import services
from patron.recommendations.services import Context, Item, Kind, Recommendations

router = Router(tags=["recommendations"])

DESCRIPTION = f"""Products to show in one slot of a page, after the store's rules (in stock, not in the cart, not
just bought, the merchant's exclusions and boosts).

- `context`: the page: `home`, `product` (needs `product_id`), `cart`, `account`, or `category` (needs
  `category`, a slug).
- `type`: what to recommend; the default depends on the context: home and account `for_you`, product `similar`,
  cart `bought_together`, category `trending`. Also `recently_viewed`, and `trending` anywhere.
- `limit`: 1 to {services.MAX_LIMIT} (default {services.DEFAULT_LIMIT}).

Signed-in callers (bearer token) get their own recommendations; anonymous ones are recognised by the visitor
cookie and their cart by the `{CART_TOKEN_HEADER}` header. A response with items is recorded as
`recommendation_shown`; report a followed item to `POST /api/analytics/events` as `recommendation_clicked` with
`{{recommendation_id, slot, model, product_id}}` from this response.
"""


def _anonymous(request: HttpRequest) -> bool:
    """Callers without a token; a rejected bearer token is a 401, never a quiet switch to anonymous."""
    return "HTTP_AUTHORIZATION" not in request.META


class ItemOut(Schema):
    product_id: int
    name: str
    slug: str
    url: str
    brand: str
    price: Decimal = Field(description="the lowest price of the product's variants")
    compare_at_price: Decimal | None
    price_is_range: bool = Field(description="variants have different prices: show “from”")
    image_url: str | None
    image_width: int | None
    image_height: int | None
    score: float


class RecommendationsOut(Schema):
    recommendation_id: str = Field(description="send it back with the analytics events of this response")
    context: str
    type: str
    slot: str
    title: str
    model: str = Field(description="`<model>@<version>` that produced the items")
    version: int | None
    strategy: str = Field(
        description="where the items come from: personalized, history, similar, bought_together, trending, "
        "recently_viewed, bestsellers (no model trained yet)"
    )
    items: list[ItemOut]


def _item(item: Item) -> dict[str, Any]:
    card = item.card
    return {
        "product_id": card.id,
        "name": card.name,
        "slug": card.slug,
        "url": card.url,
        "brand": card.brand,
        "price": str(card.price),
        "compare_at_price": str(card.compare_at) if card.compare_at is not None else None,
        "price_is_range": card.is_range,
        "image_url": card.image_url or None,
        "image_width": card.image_width,
        "image_height": card.image_height,
        "score": round(item.score, 6),
    }


def _out(result: Recommendations) -> dict[str, Any]:
    return {
        "recommendation_id": result.recommendation_id,
        "context": result.query.context,
        "type": result.query.kind,
        "slot": result.slot,
        "title": result.title,
        "model": result.model,
        "version": result.version,
        "strategy": result.strategy,
        "items": [_item(item) for item in result.items],
    }


def _audience(request: HttpRequest) -> services.Audience:
    user = getattr(request, "auth", None)
    browser = visitor(request)
    if isinstance(user, User):
        return services.Audience(user_id=user.pk, visitor_id=browser.id)
    token = request.headers.get(CART_TOKEN_HEADER, "")
    return services.Audience(
        user_id=None,
        visitor_id=browser.id,
        cart_token=token if 0 < len(token) <= TOKEN_MAX_LENGTH else None,
        returning=browser.known,
    )


# The collection answers with and without the trailing slash, so that clients never meet a redirect.
@router.get("", response=RecommendationsOut, auth=[JWTAuth(), _anonymous], include_in_schema=False)
@router.get(
    "/",
    response=RecommendationsOut,
    auth=[JWTAuth(), _anonymous],
    summary="Recommendations for a page slot",
    description=DESCRIPTION,
)
def recommendations(
    request: HttpRequest,
    context: Context,
    type: Kind | None = None,
    product_id: Annotated[int | None, Query(ge=1, le=services.MAX_ID)] = None,
    category: Annotated[str | None, Query(max_length=140)] = None,
    limit: Annotated[int, Query(ge=1, le=services.MAX_LIMIT)] = services.DEFAULT_LIMIT,
) -> JsonResponse:
    query = services.parse_query(context, kind=type, product_id=product_id, category=category, limit=limit)
    # Built to the documented schema and sent as it is: checking the output again would cost as much as
    # serving it (the tests check it against RecommendationsOut).
    return JsonResponse(_out(services.recommend(query, _audience(request))))
