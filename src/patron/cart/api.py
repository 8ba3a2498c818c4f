"""The cart API under /api/cart: a signed-in customer's cart (bearer token) or a guest's (`X-Cart-Token`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.security import APIKeyHeader

from patron.accounts.auth import JWTAuth
from patron.accounts.models import User
from patron.analytics import services as analytics
from patron.cart import services
from patron.cart.models import Cart
from patron.cart.services import CART_TOKEN_HEADER, CartItem, CartView
from patron.errors import NotFound

MAX_QUANTITY = 10_000
MAX_ID = 2**63 - 1
LineId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Guest:
    """The caller without a bearer token, identified only by the cart token they may send."""

    def __init__(self, token: str | None) -> None:
        self.token = token


class CartTokenAuth(APIKeyHeader):
    """Guests: the token returned by the first `POST /api/cart`. A request with a bearer token never falls back
    to it, so an expired or forged bearer token is a 401 rather than a quiet switch to a guest cart."""

    param_name = CART_TOKEN_HEADER

    def authenticate(self, request: HttpRequest, key: str | None) -> Guest | None:
        if "HTTP_AUTHORIZATION" in request.META:
            return None
        # A guest without a cart yet calls without a token.
        return Guest(key or None)


router = Router(tags=["cart"], auth=[JWTAuth(), CartTokenAuth()])


class AddIn(Schema):
    variant_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(1, ge=1, le=MAX_QUANTITY)


class QuantityIn(Schema):
    quantity: int = Field(ge=0, le=MAX_QUANTITY, description="0 removes the line")


class PricingQuery(Schema):
    shipping_method: str | None = Field(None, max_length=50)
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    region: str = Field("", max_length=50)
    discount_code: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=254)


class LineOut(Schema):
    id: int
    variant_id: int
    product_id: int
    product_name: str
    product_slug: str
    sku: str
    options: dict[str, Any]
    image_url: str | None
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    available: bool
    stock: int
    problem: str | None


class ShippingOptionOut(Schema):
    code: str
    name: str
    price: Decimal
    min_days: int
    max_days: int
    free: bool


class CartOut(Schema):
    token: str | None = Field(description=f"Send it back in the {CART_TOKEN_HEADER} header (guests only)")
    item_count: int
    lines: list[LineOut]
    can_check_out: bool
    problems: list[str]
    pricing_problem: str | None = Field(description="Why there are no totals, e.g. nothing ships anywhere yet")
    subtotal: Decimal | None
    discount: Decimal | None
    shipping: Decimal | None
    shipping_discount: Decimal | None = Field(description="What a free shipping code waived of the shipping price")
    tax: Decimal | None
    total: Decimal | None
    currency: str
    discount_code: str | None
    shipping_method: str | None
    tax_rate: Decimal | None
    shipping_options: list[ShippingOptionOut]


def _line(item: CartItem) -> dict[str, Any]:
    product = item.variant.product
    return {
        "id": item.id,
        "variant_id": item.variant.pk,
        "product_id": product.pk,
        "product_name": product.name,
        "product_slug": product.slug,
        "sku": item.variant.sku,
        "options": item.variant.options,
        "image_url": item.image.image.url if item.image is not None else None,
        "quantity": item.quantity,
        "unit_price": item.unit_price,
        "line_total": item.line_total,
        "available": item.available,
        "stock": max(item.stock, 0),
        "problem": item.problem,
    }


TOTALS = (
    "subtotal",
    "discount",
    "shipping",
    "shipping_discount",
    "tax",
    "total",
    "discount_code",
    "shipping_method",
    "tax_rate",
)


def _out(view: CartView) -> dict[str, Any]:
    totals = view.quote
    return {
        "token": view.token,
        "item_count": view.item_count,
        "lines": [_line(item) for item in view.items],
        "can_check_out": view.can_check_out,
        "problems": view.problems,
        "pricing_problem": view.pricing_problem,
        **{name: getattr(totals, name) if totals is not None else None for name in TOTALS},
        "currency": settings.STORE_CURRENCY,
        "shipping_options": totals.shipping_options if totals is not None else [],
    }


def _user(request: HttpRequest) -> User | None:
    caller = request.auth  # type: ignore[attr-defined]
    return caller if isinstance(caller, User) else None


def _cart(request: HttpRequest, *, create: bool) -> Cart | None:
    caller = request.auth  # type: ignore[attr-defined]
    token = caller.token if isinstance(caller, Guest) else None
    return services.get_cart(user=_user(request), token=token, create=create)


def _existing_cart(request: HttpRequest) -> Cart:
    cart = _cart(request, create=False)
    if cart is None:
        raise NotFound("This item is not in your cart.")
    return cart


def _respond(request: HttpRequest, response: HttpResponse, cart: Cart | None, **pricing: Any) -> CartOut:
    view = services.view_cart(cart, user=_user(request), **pricing)
    if view.token:
        response[CART_TOKEN_HEADER] = view.token
    return CartOut(**_out(view))


@router.get("/", response=CartOut, summary="The cart with current prices and totals")
def get_cart(request: HttpRequest, response: HttpResponse, pricing: Query[PricingQuery]) -> CartOut:
    return _respond(request, response, _cart(request, create=False), **pricing.model_dump())


@router.post("/", response={201: CartOut}, summary="Add a variant (a guest's first add issues the cart token)")
def add_to_cart(request: HttpRequest, response: HttpResponse, payload: AddIn) -> Status[CartOut]:
    # A refused first add leaves no empty guest cart behind.
    with transaction.atomic():
        cart = _cart(request, create=True)
        assert cart is not None
        line = services.add_item(cart, payload.variant_id, payload.quantity)
    analytics.track_cart_added(request, line, payload.quantity)
    return Status(201, _respond(request, response, cart))


@router.put("/{line_id}", response=CartOut, summary="Change a line's quantity (0 removes it)")
def change_quantity(request: HttpRequest, response: HttpResponse, line_id: LineId, payload: QuantityIn) -> CartOut:
    cart = _existing_cart(request)
    services.set_quantity(cart, line_id, payload.quantity)
    return _respond(request, response, cart)


@router.delete("/{line_id}", response=CartOut, summary="Remove a line")
def remove_line(request: HttpRequest, response: HttpResponse, line_id: LineId) -> CartOut:
    cart = _existing_cart(request)
    analytics.track_cart_removal(request, cart, line_id)
    services.remove_line(cart, line_id)
    return _respond(request, response, cart)
