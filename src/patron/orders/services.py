"""Order lifecycle: the state machine and its history, cancellation and refunds, unpaid-order expiry,
shipments and their tracking, and reads scoped to the order's owner or staff.

Every status change locks the order row, is checked against `TRANSITIONS`, writes an OrderStatusChange
(from, to, time, actor, note) and publishes its domain event once the transaction commits. Money goes back
through `patron.payments.services.refund_payment`, whose payment ledger is the record of what was refunded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from patron import events, webhooks
from patron.accounts.auth import staff_required
from patron.accounts.models import User
from patron.catalog.services import release_stock
from patron.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from patron.orders.models import (
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    ReturnRequest,
    ReturnStatus,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from patron.payments import services as payments
from patron.payments.models import Payment

S = OrderStatus

# The whole lifecycle: from each status, the statuses an order may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.PROCESSING, S.SHIPPED, S.CANCELLED, S.REFUNDED}),
    S.PROCESSING: frozenset({S.SHIPPED, S.CANCELLED, S.REFUNDED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}
# The order page stops following an order once nothing more can happen to it without staff.
FINAL_STATUSES = frozenset({S.DELIVERED, S.CANCELLED, S.REFUNDED})
SHIPPABLE_STATUSES = frozenset({S.PAID, S.PROCESSING, S.SHIPPED})
# Before a carrier has the parcel, it can still go elsewhere.
ADDRESS_CHANGEABLE_STATUSES = frozenset({S.PENDING_PAYMENT, S.PAID, S.PROCESSING})
INVOICED_STATUSES = frozenset({S.PAID, S.PROCESSING, S.SHIPPED, S.DELIVERED, S.REFUNDED})
CENT = Decimal("0.01")
PAYMENT_NOT_RECEIVED = "payment not received"
MAX_NOTE_LENGTH = 500


def _label(status: str) -> str:
    return S(status).label.lower() if status in S.values else status


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def _check_transition(order: Order, to_status: str) -> None:
    if to_status not in S.values:
        raise ValidationFailed("Unknown order status.", fields={"to": [f"Choose one of {', '.join(S.values)}."]})
    if not can_transition(order.status, to_status):
        raise Conflict(
            f"An order that is {_label(order.status)} cannot become {_label(to_status)}.",
            code="illegal_transition",
        )


def _lock(order_id: int) -> Order:
    """The order row, locked until the caller's transaction ends (one status change at a time)."""
    try:
        return Order.objects.select_for_update().get(pk=order_id)
    except Order.DoesNotExist:
        raise NotFound("No such order.") from None


def _record(order: Order, to_status: str, *, actor: User | None, note: str) -> OrderStatusChange:
    change = OrderStatusChange.objects.create(
        order=order, from_status=order.status, to_status=to_status, actor=actor, note=note[:MAX_NOTE_LENGTH]
    )
    order.status = to_status
    order.save(update_fields=["status"])
    return change


def _move(order: Order, to_status: str, *, actor: User | None, note: str, event: events.Event | None) -> Order:
    """Change the status of a locked order: check, record, publish after commit."""
    _check_transition(order, to_status)
    _record(order, to_status, actor=actor, note=note)
    if event is not None:
        events.publish(event)
    return order


def _is_staff(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active and user.is_staff


def _require_owner_or_staff(order: Order, actor: User | None) -> None:
    if actor is None or not actor.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    if not (_is_staff(actor) or (order.user_id is not None and order.user_id == actor.pk)):
        # Someone else's order does not exist as far as they can tell.
        raise NotFound("No such order.")


# --- Transitions -----------------------------------------------------------------------------------


def transition(order: Order, to_status: str, *, actor: User | None, note: str = "") -> Order:
    """Staff move an order along the lifecycle; illegal moves raise Conflict naming both statuses.

    Cancelling and refunding carry their own rules (stock, money), so those go through `cancel_order` and
    `refund_order`; shipping needs a shipment, which `add_shipment` creates.
    """
    staff_required(actor)
    if to_status == S.CANCELLED:
        return cancel_order(order, actor=actor, note=note)
    if to_status == S.REFUNDED:
        remaining = refundable_amount(order)
        if remaining > 0:
            return refund_order(order, remaining, actor=actor, note=note)
    with transaction.atomic():
        locked = _lock(order.pk)
        _check_transition(locked, to_status)
        event: events.Event | None = None
        if to_status == S.PAID:
            event = events.OrderPaid(order_id=locked.pk)
        elif to_status == S.SHIPPED:
            shipment = locked.shipments.order_by("-created_at", "-id").first()
            if shipment is None:
                raise Conflict("Add a shipment with its tracking number to mark the order shipped.", code="no_shipment")
            event = events.OrderShipped(order_id=locked.pk, shipment_id=shipment.pk)
        elif to_status == S.DELIVERED:
            locked.shipments.filter(delivered_at__isnull=True).update(delivered_at=timezone.now())
            event = events.OrderDelivered(order_id=locked.pk)
        _move(locked, to_status, actor=actor, note=note, event=event)
    order.status = locked.status
    return locked


def mark_paid(order_id: int, payment_id: int) -> Order:
    """A payment of the order succeeded: pending orders become paid; any later call changes nothing."""
    with transaction.atomic():
        order = _lock(order_id)
        if not Payment.objects.filter(pk=payment_id, order_id=order_id).exists():
            raise NotFound("No such payment for this order.")
        if order.status != S.PENDING_PAYMENT:
            return order
        return _move(order, S.PAID, actor=None, note=f"payment {payment_id}", event=events.OrderPaid(order_id=order.pk))


# --- Cancellation, refunds, expiry -----------------------------------------------------------------


def _line_quantities(order: Order) -> dict[int, int]:
    quantities: dict[int, int] = {}
    for variant_id, quantity in OrderLine.objects.filter(order=order).values_list("variant_id", "quantity"):
        quantities[variant_id] = quantities.get(variant_id, 0) + quantity
    return quantities


def _cancel_locked(order: Order, *, actor: User | None, note: str) -> Order:
    _check_transition(order, S.CANCELLED)
    if order.stock_reserved:
        # A declined checkout already gave its units back.
        release_stock(_line_quantities(order))
        order.stock_reserved = False
        Order.objects.filter(pk=order.pk).update(stock_reserved=False)
    for payment in Payment.objects.filter(order=order).order_by("pk"):
        if payment.refundable > 0:
            payments.refund_payment(payment, None, actor=actor, reason=note or "order cancelled")
    # Payments still open at the provider are voided, so the shopper cannot pay for the cancelled order; this never
    # fails the cancellation (an unreachable provider is recorded and retried later).
    payments.void_pending_payments(order, reason=note or "order cancelled")
    return _move(order, S.CANCELLED, actor=actor, note=note, event=events.OrderCancelled(order_id=order.pk))


def cancel_order(order: Order, *, actor: User | None, note: str = "") -> Order:
    """The owner or staff cancel an order before it ships: stock goes back and any payment is refunded."""
    _require_owner_or_staff(order, actor)
    with transaction.atomic():
        return _cancel_locked(_lock(order.pk), actor=actor, note=note)


def _amount(value: Decimal | str | int) -> Decimal:
    try:
        amount = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed("Enter a refund amount above zero.", fields={"amount": ["Must be above zero."]})
    return amount


def refund_order(order: Order, amount: Decimal, *, actor: User | None, note: str = "") -> Order:
    """Staff give back part or all of what was paid; once nothing is left to refund, the order is refunded."""
    staff_required(actor)
    amount = _amount(amount)
    with transaction.atomic():
        locked = _lock(order.pk)
        if not can_transition(locked.status, S.REFUNDED):
            raise Conflict(f"An order that is {_label(locked.status)} cannot be refunded.", code="illegal_transition")
        refundable = refundable_amount(locked)
        if amount > refundable:
            message = f"At most {refundable} {locked.currency} can be refunded."
            raise ValidationFailed(message, fields={"amount": [message]})
        left = amount
        # Oldest payments first, so a single card payment is simply refunded in part.
        for payment in Payment.objects.filter(order=locked).order_by("pk"):
            share = min(left, payment.refundable)
            if share > 0:
                payments.refund_payment(payment, share, actor=actor, reason=note or "refund")
                left -= share
        described = f"refunded {amount} {locked.currency}" + (f": {note}" if note else "")
        if refundable - amount > 0:
            _record(locked, locked.status, actor=actor, note=described)
            return locked
        return _move(locked, S.REFUNDED, actor=actor, note=described, event=None)


def expire_unpaid_orders(now: datetime | None = None) -> int:
    """Cancel orders still unpaid after ORDER_PAYMENT_TIMEOUT_MINUTES and release their stock.

    Safe to run twice or on several workers: each order is re-checked under its lock.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ORDER_PAYMENT_TIMEOUT_MINUTES)
    stale = Order.objects.filter(status=S.PENDING_PAYMENT, placed_at__lt=cutoff).order_by("pk")
    expired = 0
    for order_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            order = _lock(order_id)
            if order.status == S.PENDING_PAYMENT and order.placed_at < cutoff:
                _cancel_locked(order, actor=None, note=PAYMENT_NOT_RECEIVED)
                expired += 1
    return expired


# --- Changes before shipment, returns, the invoice -------------------------------------------------


def change_shipping_address(order: Order, address: Mapping[str, str], *, actor: User | None) -> Order:
    """The owner or staff send an order that has not shipped yet to another address; its history notes the change."""
    # placement builds on this module, so its address rules are imported when needed.
    from patron.orders.placement import AddressInput, _clean_address

    _require_owner_or_staff(order, actor)
    fields = {name: str(address.get(name) or "") for name in AddressInput.__dataclass_fields__}
    cleaned = _clean_address(AddressInput(**fields))
    with transaction.atomic():
        locked = _lock(order.pk)
        if locked.status not in ADDRESS_CHANGEABLE_STATUSES:
            raise Conflict(
                f"An order that is {_label(locked.status)} can no longer be sent elsewhere.", code="address_locked"
            )
        locked.shipping_address = asdict(cleaned)
        locked.save(update_fields=["shipping_address"])
        _record(locked, locked.status, actor=actor, note="shipping address changed")
    order.shipping_address = locked.shipping_address
    return locked


def return_deadline(order: Order) -> datetime | None:
    """The last moment a delivered order may be returned, ORDER_RETURN_WINDOW_DAYS after its delivery."""
    delivered = max((s.delivered_at for s in Shipment.objects.filter(order=order) if s.delivered_at), default=None)
    if delivered is None:
        change = order.history.filter(to_status=S.DELIVERED).order_by("-at").first()
        delivered = change.at if change is not None else None
    return delivered + timedelta(days=settings.ORDER_RETURN_WINDOW_DAYS) if delivered is not None else None


def returnable_quantities(order: Order) -> dict[int, int]:
    """Line id -> units that can still be returned (ordered minus those in returns that were not rejected)."""
    left = dict(OrderLine.objects.filter(order=order).values_list("pk", "quantity"))
    for request in ReturnRequest.objects.filter(order=order).exclude(status=ReturnStatus.REJECTED):
        for item in request.lines:
            left[item["line_id"]] = left.get(item["line_id"], 0) - item["quantity"]
    return {line_id: quantity for line_id, quantity in left.items() if quantity > 0}


def start_return(
    order: Order, *, actor: User | None, lines: Mapping[int, int] | None = None, reason: str = ""
) -> ReturnRequest:
    """The owner or staff ask to send delivered items back within the return window.

    `lines` maps line ids to units; None returns every unit not already in a return.
    """
    _require_owner_or_staff(order, actor)
    with transaction.atomic():
        locked = _lock(order.pk)
        if locked.status != S.DELIVERED:
            raise Conflict(f"An order that is {_label(locked.status)} cannot be returned.", code="not_delivered")
        deadline = return_deadline(locked)
        if deadline is not None and timezone.now() > deadline:
            raise Conflict(f"The return window closed on {deadline:%d %B %Y}.", code="return_window_closed")
        returnable = returnable_quantities(locked)
        wanted = dict(returnable) if lines is None else {int(key): int(value) for key, value in lines.items()}
        if not wanted or any(not 1 <= units <= returnable.get(line, 0) for line, units in wanted.items()):
            message = "Choose items of this order that have not been returned yet."
            raise ValidationFailed(message, fields={"lines": [message]})
        request = ReturnRequest.objects.create(
            order=locked,
            lines=[{"line_id": line, "quantity": units} for line, units in sorted(wanted.items())],
            reason=reason[:MAX_NOTE_LENGTH],
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
        _record(locked, locked.status, actor=actor, note=f"return {request.pk} requested")
    return request


def resend_invoice(order: Order, *, actor: User | None) -> bool:
    """Send the order's confirmation with its totals again, only ever to the order's own address, at most hourly.

    Owners and staff may ask; a guest's caller must already have checked that they know the order's e-mail.
    Returns False when it was already sent this hour.
    """
    from patron.orders import emails  # emails builds on placement, which builds on this module

    if actor is not None and actor.is_authenticated:
        _require_owner_or_staff(order, actor)
    if order.status not in INVOICED_STATUSES:
        raise Conflict("An order has an invoice once it is paid.", code="not_invoiced")
    return emails.resend_confirmation(order.pk)


# --- Shipments and tracking ------------------------------------------------------------------------


def _required_text(value: str, field: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed("Some details are missing.", fields={field: ["This field is required."]})
    if len(value) > max_length:
        raise ValidationFailed("Some details are too long.", fields={field: [f"At most {max_length} characters."]})
    return value


def add_shipment(
    order: Order, *, carrier: str, tracking_number: str, tracking_url: str = "", actor: User | None
) -> Shipment:
    """Staff hand a paid order to a carrier; the order becomes shipped (a further parcel keeps it shipped)."""
    staff_required(actor)
    carrier = _required_text(carrier, "carrier", 100)
    tracking_number = _required_text(tracking_number, "tracking_number", 100)
    tracking_url = (tracking_url or "").strip()
    if tracking_url and not tracking_url.startswith(("https://", "http://")):
        raise ValidationFailed("The tracking link is not a web address.", fields={"tracking_url": ["Enter a URL."]})
    with transaction.atomic():
        locked = _lock(order.pk)
        if locked.status not in SHIPPABLE_STATUSES:
            raise Conflict(f"An order that is {_label(locked.status)} cannot be shipped.", code="illegal_transition")
        shipment = Shipment.objects.create(
            order=locked, carrier=carrier, tracking_number=tracking_number, tracking_url=tracking_url[:500]
        )
        event = events.OrderShipped(order_id=locked.pk, shipment_id=shipment.pk)
        if locked.status == S.SHIPPED:
            _record(locked, S.SHIPPED, actor=actor, note=f"another parcel: {carrier} {tracking_number}")
            events.publish(event)
        else:
            _move(locked, S.SHIPPED, actor=actor, note=f"{carrier} {tracking_number}", event=event)
    order.status = locked.status
    return shipment


def add_tracking_event(
    shipment: Shipment,
    *,
    at: datetime,
    status: str,
    location: str = "",
    description: str = "",
    external_id: str | None = None,
) -> TrackingEvent:
    """Record a step of the parcel's journey; a delivered step delivers the order. A known `external_id` is a replay."""
    if status not in TrackingStatus.values:
        raise ValidationFailed(
            "Unknown tracking status.", fields={"status": [f"Choose one of {', '.join(TrackingStatus.values)}."]}
        )
    if timezone.is_naive(at):
        raise ValidationFailed("Give the time with its time zone.", fields={"at": ["Include a UTC offset."]})
    with transaction.atomic():
        order = _lock(shipment.order_id)
        if external_id:
            known = TrackingEvent.objects.filter(shipment=shipment, external_id=external_id).first()
            if known is not None:
                return known
        try:
            with transaction.atomic():
                event = TrackingEvent.objects.create(
                    shipment=shipment,
                    at=at,
                    status=status,
                    location=location[:200],
                    description=description[:500],
                    external_id=external_id or None,
                )
        except IntegrityError:
            return TrackingEvent.objects.get(shipment=shipment, external_id=external_id)
        if status == TrackingStatus.DELIVERED:
            Shipment.objects.filter(pk=shipment.pk, delivered_at__isnull=True).update(delivered_at=at)
            if order.status == S.SHIPPED:
                _move(
                    order,
                    S.DELIVERED,
                    actor=None,
                    note=f"delivered by {shipment.carrier}",
                    event=events.OrderDelivered(order_id=order.pk),
                )
    return event


@dataclass(frozen=True)
class CarrierEvent:
    id: str
    at: datetime
    status: str
    location: str
    description: str


def carrier_signature(body: bytes, secret: str | None = None) -> str:
    """The `X-Patron-Signature` value a carrier sends (see patron/webhooks.py)."""
    return webhooks.sign(body, secret if secret is not None else settings.CARRIER_WEBHOOK_SECRET)


def _verify_signature(body: bytes, signature: str) -> None:
    if not webhooks.is_signed(body, settings.CARRIER_WEBHOOK_SECRET, signature):
        raise NotAuthenticated("The signature does not match.", code="invalid_signature")


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:  # well-formed but impossible, e.g. month 13
        return None


def _carrier_events(payload: Any) -> tuple[str, list[CarrierEvent]]:
    invalid = ValidationFailed("The tracking update is not valid.", fields={"events": ["Expected a list of events."]})
    if not isinstance(payload, Mapping) or not isinstance(payload.get("events"), list):
        raise invalid
    tracking_number = payload.get("tracking_number")
    if not isinstance(tracking_number, str) or not tracking_number.strip():
        raise ValidationFailed("The tracking number is missing.", fields={"tracking_number": ["Required."]})
    parsed: list[CarrierEvent] = []
    for item in payload["events"]:
        if not isinstance(item, Mapping):
            raise invalid
        event_id, at_text, status = item.get("id"), item.get("at"), item.get("status")
        at = _datetime(at_text)
        if not isinstance(event_id, str | int) or not str(event_id) or at is None or not isinstance(status, str):
            raise ValidationFailed(
                "The tracking update is not valid.", fields={"events": ["Each event needs id, at and status."]}
            )
        parsed.append(
            CarrierEvent(
                id=str(event_id)[:100],
                at=at,
                status=status,
                location=str(item.get("location") or ""),
                description=str(item.get("description") or ""),
            )
        )
    return tracking_number.strip(), parsed


def handle_carrier_webhook(body: bytes, signature: str) -> list[TrackingEvent]:
    """A carrier's signed tracking update: `{tracking_number, events: [{id, at, status, location, description}]}`."""
    _verify_signature(body, signature)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The body is not JSON.") from None
    tracking_number, carrier_events = _carrier_events(payload)
    shipment = Shipment.objects.filter(tracking_number=tracking_number).order_by("-created_at", "-id").first()
    if shipment is None:
        raise NotFound("No shipment has this tracking number.")
    # One bad event refuses the whole update, so the carrier's retry of the fixed update applies it all.
    with transaction.atomic():
        return [
            add_tracking_event(
                shipment,
                at=event.at,
                status=event.status,
                location=event.location,
                description=event.description,
                external_id=event.id,
            )
            for event in sorted(carrier_events, key=lambda event: event.at)
        ]


# --- Reads -----------------------------------------------------------------------------------------


def list_orders(user: User) -> QuerySet[Order]:
    """The user's own orders, newest first; staff see every order."""
    if not user.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    orders = Order.objects.select_related("user")
    return orders if _is_staff(user) else orders.filter(user=user)


def _with_details(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("pk")),
        Prefetch("history", queryset=OrderStatusChange.objects.select_related("actor").order_by("at", "pk")),
        Prefetch(
            "shipments",
            queryset=Shipment.objects.order_by("created_at", "pk").prefetch_related(
                Prefetch("events", queryset=TrackingEvent.objects.order_by("at", "pk"))
            ),
        ),
        Prefetch("payments", queryset=Payment.objects.order_by("created_at", "pk")),
    )


def get_order(user: User, order_id: int) -> Order:
    """One order with its lines, history, shipments with events, and payments; someone else's is NotFound."""
    try:
        return _with_details(list_orders(user)).get(pk=order_id)
    except Order.DoesNotExist:
        raise NotFound("No such order.") from None


def get_order_by_number(user: User, number: str) -> Order:
    try:
        return _with_details(list_orders(user)).get(number=number)
    except Order.DoesNotExist:
        raise NotFound("No such order.") from None


def get_shipment(order: Order, shipment_id: int) -> Shipment:
    try:
        return Shipment.objects.get(pk=shipment_id, order=order)
    except Shipment.DoesNotExist:
        raise NotFound("No such shipment.") from None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    title: str
    detail: str
    kind: str  # "status" | "tracking"


def timeline(order: Order) -> list[TimelineEntry]:
    """Status changes and parcel tracking steps of an order (loaded by get_order), oldest first."""
    entries = [
        TimelineEntry(at=change.at, title=S(change.to_status).label, detail=_public_note(change), kind="status")
        for change in order.history.all()
        if change.from_status != change.to_status
    ]
    for shipment in order.shipments.all():
        for step in shipment.events.all():
            detail = " · ".join(part for part in (step.location, step.description) if part)
            entries.append(TimelineEntry(at=step.at, title=step.get_status_display(), detail=detail, kind="tracking"))
    return sorted(entries, key=lambda entry: entry.at)


def _public_note(change: OrderStatusChange) -> str:
    """Customers see why an order was cancelled by the store, not staff remarks."""
    return change.note if change.note == PAYMENT_NOT_RECEIVED else ""


def refundable_amount(order: Order) -> Decimal:
    """What the order's payments can still give back."""
    return sum((payment.refundable for payment in Payment.objects.filter(order=order)), Decimal("0.00"))
