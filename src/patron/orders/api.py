"""/api/orders (the signed-in customer's orders; staff see and manage all) and /api/shipping (carrier webhook)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from math import ceil
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Header, Query, Router, Schema, Status
from pydantic import Field, StringConstraints

from patron.accounts.auth import JWTAuth, staff_required
from patron.accounts.models import User
from patron.cart import services as cart_services
from patron.cart.api import CartTokenAuth, Guest
from patron.errors import NotFound, ValidationFailed
from patron.orders import placement, services
from patron.orders.models import Order, Shipment, TrackingEvent
from patron.payments.models import Payment
from patron.payments.providers import CardInput

router = Router(tags=["orders"])
shipping_router = Router(tags=["shipping"])
jwt_auth = JWTAuth()

MAX_PAGE_SIZE = 100
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def _user(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


class OrderSummaryOut(Schema):
    id: int
    number: str
    status: str
    email: str
    currency: str
    total: Decimal
    placed_at: datetime


class OrderListOut(Schema):
    items: list[OrderSummaryOut]
    total: int
    page: int
    page_size: int
    num_pages: int


class PageIn(Schema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)


class LineOut(Schema):
    id: int
    product_id: int
    variant_id: int
    product_name: str
    sku: str
    options: dict[str, str]
    unit_price: Decimal
    quantity: int
    line_total: Decimal


class StatusChangeOut(Schema):
    from_status: str
    to_status: str
    at: datetime
    actor_id: int | None
    note: str


class TrackingEventOut(Schema):
    id: int
    at: datetime
    status: str
    location: str
    description: str
    external_id: str | None


class ShipmentOut(Schema):
    id: int
    carrier: str
    tracking_number: str
    tracking_url: str
    shipped_at: datetime
    delivered_at: datetime | None
    events: list[TrackingEventOut]

    @staticmethod
    def resolve_events(shipment: Shipment) -> list[TrackingEvent]:
        return list(shipment.events.all())


class PaymentOut(Schema):
    id: int
    provider: str
    status: str
    amount: Decimal
    amount_refunded: Decimal
    currency: str
    created_at: datetime


class OrderOut(OrderSummaryOut):
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    shipping_address: dict[str, Any]
    lines: list[LineOut]
    history: list[StatusChangeOut]
    shipments: list[ShipmentOut]
    payments: list[PaymentOut]

    @staticmethod
    def resolve_lines(order: Order) -> list[Any]:
        return list(order.lines.all())

    @staticmethod
    def resolve_history(order: Order) -> list[Any]:
        return list(order.history.all())

    @staticmethod
    def resolve_shipments(order: Order) -> list[Any]:
        return list(order.shipments.all())

    @staticmethod
    def resolve_payments(order: Order) -> list[Any]:
        return list(order.payments.all())


class TransitionIn(Schema):
    to: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    note: Note = ""


class ShipmentIn(Schema):
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    tracking_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    tracking_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class TrackingEventIn(Schema):
    at: datetime
    status: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    location: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None


class RefundIn(Schema):
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    note: Note = ""


class CancelIn(Schema):
    note: Note = ""


class WebhookOut(Schema):
    received: int


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
IdempotencyKey = Annotated[str, Header(alias=placement.IDEMPOTENCY_HEADER, min_length=1, max_length=255)]


class AddressIn(Schema):
    full_name: Text
    line1: Text
    line2: Text = ""
    city: Text
    region: Text = ""
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
    country: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2)] = Field(
        description="ISO 3166-1 alpha-2, e.g. US or DE"
    )
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30)] = ""


class CardIn(Schema):
    number: Annotated[str, StringConstraints(max_length=30)]
    exp_month: int = Field(ge=0, le=99)
    exp_year: int = Field(ge=0, le=9999)
    cvc: Annotated[str, StringConstraints(max_length=8)]

    def card(self) -> CardInput:
        return CardInput(number=self.number, exp_month=self.exp_month, exp_year=self.exp_year, cvc=self.cvc)


class OrderIn(Schema):
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] = Field(
        "", description="Defaults to the signed-in customer's email"
    )
    shipping_address: AddressIn | None = Field(None, description="Or saved_address_id")
    saved_address_id: int | None = Field(None, ge=1, le=2**63 - 1, description="One of your saved addresses")
    shipping_method: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    discount_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    card: CardIn | None = Field(None, description="Test provider only; Stripe takes the card in its Payment Element")


class PayIn(Schema):
    card: CardIn | None = None


class PaymentStateOut(Schema):
    id: int
    provider: str
    status: str
    amount: Decimal
    currency: str
    client_secret: str | None = Field(description="For Stripe.js to confirm the payment (Stripe only)")
    failure_code: str
    failure_message: str

    @staticmethod
    def resolve_client_secret(payment: Payment) -> str | None:
        return payment.client_secret or None


class _WithPayment(Schema):
    access_token: str = Field(description="Opens the order without signing in: GET /api/orders/by-number/{number}")
    payment: PaymentStateOut | None = Field(description="The latest payment attempt")

    @staticmethod
    def resolve_access_token(order: Order) -> str:
        return placement.order_access_token(order)

    @staticmethod
    def resolve_payment(order: Order) -> Payment | None:
        return placement.latest_payment(order)


class PlacedOrderOut(OrderSummaryOut, _WithPayment):
    """What checkout answers: the order's totals, lines and payment (it has no shipments yet)."""

    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    shipping_method: str
    shipping_address: dict[str, Any]
    lines: list[LineOut]

    @staticmethod
    def resolve_lines(order: Order) -> list[Any]:
        return list(order.lines.all())


class GuestOrderOut(OrderOut, _WithPayment):
    pass


def _caller(request: HttpRequest) -> User | None:
    caller = request.auth  # type: ignore[attr-defined]
    return caller if isinstance(caller, User) else None


def _guest_order(order_id: int, token: str) -> Order:
    number = Order.objects.filter(pk=order_id).values_list("number", flat=True).first()
    if number is None:
        raise NotFound("No such order.")
    return placement.order_for_token(number, token)


def _detail(request: HttpRequest, order_id: int) -> Order:
    return services.get_order(_user(request), order_id)


@router.get("", response=OrderListOut, auth=jwt_auth, include_in_schema=False)
@router.get("/", response=OrderListOut, auth=jwt_auth, summary="Your orders, newest first (staff: all orders)")
def list_orders(request: HttpRequest, params: Query[PageIn]) -> dict[str, Any]:
    orders = services.list_orders(_user(request))
    total = orders.count()
    start = (params.page - 1) * params.page_size
    return {
        "items": list(orders[start : start + params.page_size]),
        "total": total,
        "page": params.page,
        "page_size": params.page_size,
        "num_pages": max(1, ceil(total / params.page_size)),
    }


@router.get("/{int:order_id}", response=OrderOut, auth=jwt_auth, summary="An order with its history and shipments")
def get_order(request: HttpRequest, order_id: int) -> Order:
    return _detail(request, order_id)


@router.post(
    "/{int:order_id}/cancel", response=OrderOut, auth=jwt_auth, summary="Cancel before shipment (owner or staff)"
)
def cancel_order(request: HttpRequest, order_id: int, payload: CancelIn | None = None) -> Order:
    order = _detail(request, order_id)
    services.cancel_order(order, actor=_user(request), note=payload.note if payload else "")
    return _detail(request, order_id)


@router.post("/{int:order_id}/transitions", response=OrderOut, auth=jwt_auth, summary="Change the status (staff)")
def transition(request: HttpRequest, order_id: int, payload: TransitionIn) -> Order:
    staff_required(_user(request))
    services.transition(_detail(request, order_id), payload.to, actor=_user(request), note=payload.note)
    return _detail(request, order_id)


@router.post("/{int:order_id}/shipments", response={201: ShipmentOut}, auth=jwt_auth, summary="Ship the order (staff)")
def add_shipment(request: HttpRequest, order_id: int, payload: ShipmentIn) -> Status[Shipment]:
    staff_required(_user(request))
    shipment = services.add_shipment(
        _detail(request, order_id),
        carrier=payload.carrier,
        tracking_number=payload.tracking_number,
        tracking_url=payload.tracking_url,
        actor=_user(request),
    )
    return Status(201, shipment)


@router.post(
    "/{int:order_id}/shipments/{int:shipment_id}/events",
    response={201: TrackingEventOut},
    auth=jwt_auth,
    summary="Add a tracking event (staff)",
)
def add_tracking_event(
    request: HttpRequest, order_id: int, shipment_id: int, payload: TrackingEventIn
) -> Status[TrackingEvent]:
    staff_required(_user(request))
    shipment = services.get_shipment(_detail(request, order_id), shipment_id)
    event = services.add_tracking_event(
        shipment,
        at=payload.at,
        status=payload.status,
        location=payload.location,
        description=payload.description,
        external_id=payload.external_id,
    )
    return Status(201, event)


@router.post("/{int:order_id}/refunds", response=OrderOut, auth=jwt_auth, summary="Refund part or all (staff)")
def refund(request: HttpRequest, order_id: int, payload: RefundIn) -> Order:
    staff_required(_user(request))
    services.refund_order(_detail(request, order_id), payload.amount, actor=_user(request), note=payload.note)
    return _detail(request, order_id)


@shipping_router.post(
    "/carrier-webhook",
    response=WebhookOut,
    summary="Tracking updates from carriers",
    description="Body `{tracking_number, events: [{id, at, status, location, description}]}`, signed with "
    "`X-Patron-Signature: sha256=<HMAC-SHA256 of the raw body with CARRIER_WEBHOOK_SECRET, hex>`. "
    "Replayed events change nothing.",
)
def carrier_webhook(request: HttpRequest) -> dict[str, int]:
    received = services.handle_carrier_webhook(request.body, request.headers.get("X-Patron-Signature", ""))
    return {"received": len(received)}


@router.post("/", response={201: PlacedOrderOut}, auth=[jwt_auth, CartTokenAuth()], include_in_schema=False)
@router.post(
    "",
    response={201: PlacedOrderOut},
    auth=[jwt_auth, CartTokenAuth()],
    summary="Place an order from your cart and pay it",
    description="Customers (bearer token) check out their cart, guests the cart of their `X-Cart-Token`. The cart "
    "is priced again at current prices. A retry with the same `Idempotency-Key` returns the same order; the same "
    "key with another request is a 409. A declined card is a 402 whose `fields.order` names the order, which "
    "stays open for `POST /api/orders/{id}/pay`; an item that sold out is a 409 `out_of_stock`.",
)
def place_order(request: HttpRequest, payload: OrderIn, idempotency_key: IdempotencyKey) -> Status[Order]:
    user = _caller(request)
    caller = request.auth  # type: ignore[attr-defined]
    token = caller.token if isinstance(caller, Guest) else None
    cart = cart_services.get_cart(user=user, token=token, create=False)
    if cart is None:
        raise ValidationFailed("Your cart is empty.", fields={"cart": ["Add something to your cart first."]})
    address = placement.AddressInput(**payload.shipping_address.model_dump()) if payload.shipping_address else None
    data = placement.CheckoutInput(
        email=payload.email,
        shipping_address=address,
        shipping_method=payload.shipping_method or None,
        discount_code=payload.discount_code or None,
        card=payload.card.card() if payload.card is not None else None,
        saved_address_id=payload.saved_address_id,
    )
    order = placement.place_order(cart, data, user=user, idempotency_key=idempotency_key)
    return Status(201, placement.placed_order(order.pk))


@router.post(
    "/{int:order_id}/pay",
    response=PlacedOrderOut,
    auth=[jwt_auth, CartTokenAuth()],
    summary="Pay an order awaiting payment again, e.g. after a declined card",
    description="The owner (bearer token), or a guest with the order's `token`. Stock given back after a decline "
    "is taken again first (409 `out_of_stock` if it sold out meanwhile). The same `Idempotency-Key` returns "
    "the same payment.",
)
def pay_order(
    request: HttpRequest,
    order_id: int,
    idempotency_key: IdempotencyKey,
    payload: PayIn | None = None,
    token: str = "",
) -> Order:
    user = _caller(request)
    order = services.get_order(user, order_id) if user is not None else _guest_order(order_id, token)
    card = payload.card.card() if payload is not None and payload.card is not None else None
    placement.pay_order(order, card, actor=user, idempotency_key=idempotency_key)
    return placement.placed_order(order.pk)


@router.get(
    "/by-number/{number}",
    response=GuestOrderOut,
    summary="An order opened with its guest link",
    description="`token` is the order's `access_token`, also in its confirmation email.",
)
def order_by_number(request: HttpRequest, number: str, token: str = "") -> Order:
    return placement.order_for_token(number, token)
