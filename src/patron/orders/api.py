"""/api/orders (the signed-in customer's orders; staff see and manage all) and /api/shipping (carrier webhook)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from math import ceil
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, StringConstraints

from patron.accounts.auth import JWTAuth, staff_required
from patron.accounts.models import User
from patron.orders import services
from patron.orders.models import Order, Shipment, TrackingEvent

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
