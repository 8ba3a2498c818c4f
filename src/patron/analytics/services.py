"""Recording behavioural events and reading them back for recommendations.

Recording (`track`, `track_request` and the helpers the cart and checkout call) costs a request one buffer
push, never a row of its own (see `analytics.buffer`), and never fails the request: an error is logged. Every
payload is bounded (`bound_payload`) before it is buffered. Pages that are cached and shared (product, search)
cannot record on the server, so their script reports `product_viewed` and `search_performed` through
`collect`, which takes only the client-side event names, checks each payload against its schema, caps the body
size and rate-limits each visitor and address.

Reads (`latest_views_sql`, `product_views`) see what has been stored: an event is readable within
ANALYTICS_FLUSH_SECONDS of being recorded, plus up to a minute with Redis (the drain task).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from patron.accounts.auth import client_ip
from patron.accounts.models import User
from patron.analytics import buffer, ga4
from patron.analytics.models import CLIENT_EVENTS, EVENT_NAMES, Event, EventName
from patron.analytics.visitor import ID_MAX_LENGTH, visitor
from patron.cart.models import Cart, CartLine
from patron.cart.services import CartView
from patron.errors import RateLimited, ValidationFailed
from patron.orders.models import Order, OrderRequest

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
# Bounds of a stored payload: its JSON size, and the strings, lists, keys and nesting within it.
MAX_PAYLOAD_BYTES = 2048
MAX_STRING = 200
MAX_LIST = 50
MAX_KEYS = 30
MAX_DEPTH = 4
TRUNCATED = "_truncated"
# Bodies of POST /api/analytics/events above this are refused before they are parsed.
MAX_BODY_BYTES = 4096
RATE_WINDOW_SECONDS = 60
RECENTLY_VIEWED_MAX = 100
PURGE_BATCH = 5000
# How long before its order a checkout start still counts as the one that led to it.
CHECKOUT_LOOKBACK = timedelta(days=1)
ORDER_RECORDED_TTL = 7 * 24 * 3600
# Handed over at once (with whatever waits before them): the worker recording an order looks its checkout start up.
HANDED_OVER_AT_ONCE = frozenset({EventName.CHECKOUT_STARTED})


# Recording -------------------------------------------------------------------------------------------------------


def _bounded(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {str(key)[:MAX_STRING]: _bounded(item, depth + 1) for key, item in list(value.items())[:MAX_KEYS]}
    if isinstance(value, list | tuple | set | frozenset):
        return [_bounded(item, depth + 1) for item in list(value)[:MAX_LIST]]
    return str(value)[:MAX_STRING]


def _size(payload: Mapping[str, Any]) -> int:
    return len(json.dumps(payload, separators=(",", ":")).encode())


def bound_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """`payload` as plain JSON within the caps: long strings and lists cut, deep nesting dropped, and when it is
    still over MAX_PAYLOAD_BYTES, the keys that do not fit left out and `_truncated` set."""
    bounded: dict[str, Any] = _bounded(dict(payload or {}), 0)
    if _size(bounded) <= MAX_PAYLOAD_BYTES:
        return bounded
    kept: dict[str, Any] = {TRUNCATED: True}
    for key, value in bounded.items():
        if _size({**kept, key: value}) <= MAX_PAYLOAD_BYTES:
            kept[key] = value
    return kept


def _product_id(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("product_id")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID else None


def track(
    name: str,
    *,
    user_id: int | None,
    visitor_id: str,
    session_key: str = "",
    payload: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Record that `name` happened (now, or `at`) for a user and/or an anonymous visitor."""
    if name not in EVENT_NAMES:
        raise ValueError(f"unknown analytics event {name!r}")
    if not settings.ANALYTICS_ENABLED:
        return
    bounded = bound_payload(payload)
    event = {
        "name": str(name),
        "user_id": user_id,
        "visitor_id": (visitor_id or "")[:ID_MAX_LENGTH],
        "session_key": (session_key or "")[:40],
        "product_id": _product_id(bounded),
        "payload": bounded,
        "created_at": (at or timezone.now()).isoformat(),
    }
    try:
        buffer.push(event, at_once=name in HANDED_OVER_AT_ONCE)
    except Exception:
        logger.exception("analytics: could not record %s", name)


def request_user(request: HttpRequest) -> User | None:
    """The signed-in shopper: the API's bearer-token user, else the web session's."""
    caller = getattr(request, "auth", None)
    if isinstance(caller, User):
        return caller
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


def track_request(request: HttpRequest, name: str, payload: Mapping[str, Any] | None = None) -> None:
    """Record `name` for whoever made `request`: their user, their browser's visitor id and their session (none
    yet on the request that starts the session: its key is only made when the response saves it)."""
    user = request_user(request)
    session = getattr(request, "session", None)
    track(
        name,
        user_id=user.pk if user is not None else None,
        visitor_id=visitor(request).id,
        session_key=(session.session_key or "") if session is not None else "",
        payload=payload,
    )


def _recording() -> bool:
    return settings.ANALYTICS_ENABLED or bool(ga4.measurement_id())


def track_cart_added(request: HttpRequest, line: CartLine, quantity: int) -> None:
    """`quantity` of the line's variant (its product loaded) was just put in the cart."""
    if not _recording():
        return
    variant = line.variant
    payload = {
        "cart_id": line.cart_id,
        "product_id": variant.product_id,
        "variant_id": variant.pk,
        "quantity": quantity,
        "price": variant.price,
    }
    track_request(request, EventName.CART_ITEM_ADDED, payload)
    ga4.queue(request, ga4.cart_event("add_to_cart", variant, quantity))


def track_cart_removal(request: HttpRequest, cart: Cart, line_id: int) -> None:
    """Called just before a line is removed, to record what it held; a line not in `cart` records nothing."""
    if not _recording():
        return
    line = CartLine.objects.select_related("variant__product").filter(cart=cart, pk=line_id).first()
    if line is None:
        return
    variant = line.variant
    payload = {
        "cart_id": cart.pk,
        "product_id": variant.product_id,
        "variant_id": variant.pk,
        "quantity": line.quantity,
        "price": variant.price,
    }
    track_request(request, EventName.CART_ITEM_REMOVED, payload)
    ga4.queue(request, ga4.cart_event("remove_from_cart", variant, line.quantity))


def track_checkout_started(request: HttpRequest, view: CartView) -> None:
    """The checkout page was opened for this priced cart. `cart_id` lets the order it leads to find its visitor."""
    items = [
        {"product_id": item.variant.product_id, "variant_id": item.variant.pk, "quantity": item.quantity}
        for item in view.items
    ]
    payload = {
        "cart_id": view.cart.pk if view.cart is not None else None,
        "item_count": view.item_count,
        "value": view.quote.total if view.quote is not None else None,
        "currency": settings.STORE_CURRENCY,
        "items": items,
    }
    track_request(request, EventName.CHECKOUT_STARTED, payload)


def _checkout_of(order: Order) -> tuple[str, str]:
    """The visitor id and session key of the checkout start that led to `order`: the customer's latest, or for a guest
    the latest of the cart the order was placed from (its idempotency scope names it)."""
    starts = Event.objects.filter(
        name=EventName.CHECKOUT_STARTED,
        created_at__gte=order.placed_at - CHECKOUT_LOOKBACK,
        created_at__lte=order.placed_at,
    )
    if order.user_id is not None:
        starts = starts.filter(user_id=order.user_id)
    else:
        scope = OrderRequest.objects.filter(order_id=order.number).values_list("scope", flat=True).first() or ""
        kind, _, cart_id = scope.partition(":")
        if kind != "cart" or not cart_id.isdigit():
            return "", ""
        starts = starts.filter(payload__cart_id=int(cart_id))
    found = starts.order_by("-created_at", "-pk").values_list("visitor_id", "session_key").first()
    return found if found is not None else ("", "")


def record_order_placed(order_id: int) -> bool:
    """Record `order_placed` once per order, for its customer and the visitor who checked out; False if it was
    recorded before (or the order is gone).

    The visitor is found through the checkout start, so the buffers are flushed first; the web process handed the
    checkout start over when it was recorded.
    """
    if not settings.ANALYTICS_ENABLED:
        return False
    order = Order.objects.prefetch_related("lines").filter(pk=order_id).first()
    if order is None:
        return False
    # Pending events first, so that the checkout start (and a copy from an earlier run) can be found.
    buffer.flush()
    # Stamped with the order's time, so the (name, time) index finds an earlier copy.
    earlier = Event.objects.filter(name=EventName.ORDER_PLACED, created_at=order.placed_at)
    if earlier.filter(payload__order_id=order.pk).exists():
        return False
    if not cache.add(f"analytics:order-placed:{order.pk}", 1, timeout=ORDER_RECORDED_TTL):
        return False
    visitor_id, session_key = _checkout_of(order)
    payload = {
        "order_id": order.pk,
        "number": order.number,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "discount": order.discount,
        "shipping": order.shipping,
        "tax": order.tax,
        "total": order.total,
        "items": [
            {
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "quantity": line.quantity,
                "price": line.unit_price,
            }
            for line in order.lines.all()
        ],
    }
    track(
        EventName.ORDER_PLACED,
        user_id=order.user_id,
        visitor_id=visitor_id,
        session_key=session_key,
        payload=payload,
        at=order.placed_at,
    )
    return True


# The collect endpoint ----------------------------------------------------------------------------------------------


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProductViewedPayload(_Payload):
    product_id: int = Field(ge=1, le=MAX_ID)


class SearchPerformedPayload(_Payload):
    query: str = Field("", max_length=MAX_STRING)
    result_count: int = Field(ge=0, le=10**9)


class RecommendationPayload(_Payload):
    """`product_ids` for what a widget showed, `product_id` for the one that was clicked."""

    recommendation_id: str = Field(min_length=1, max_length=64)
    slot: str = Field(min_length=1, max_length=50)
    model: str = Field(min_length=1, max_length=100)
    product_id: int | None = Field(None, ge=1, le=MAX_ID)
    product_ids: list[int] | None = Field(None, min_length=1, max_length=MAX_LIST)


class ClientEvent(_Payload):
    name: str = Field(description="product_viewed, search_performed, recommendation_shown or recommendation_clicked")
    payload: dict[str, Any] = Field(default_factory=dict)


PAYLOADS: dict[str, type[_Payload]] = {
    EventName.PRODUCT_VIEWED: ProductViewedPayload,
    EventName.SEARCH_PERFORMED: SearchPerformedPayload,
    EventName.RECOMMENDATION_SHOWN: RecommendationPayload,
    EventName.RECOMMENDATION_CLICKED: RecommendationPayload,
}
assert set(PAYLOADS) == CLIENT_EVENTS


def _fields(error: PydanticValidationError, prefix: str = "") -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for problem in error.errors():
        parts = ([prefix] if prefix else []) + [str(part) for part in problem["loc"]]
        fields.setdefault(".".join(parts) or "__all__", []).append(problem["msg"])
    return fields


def _refuse(message: str, field: str = "__all__") -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def parse_client_event(body: bytes) -> tuple[str, dict[str, Any]]:
    """The event name and checked payload of a collect request's body; ValidationFailed names what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise _refuse(f"The event is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _refuse("Send the event as a JSON object.") from None
    if not isinstance(data, dict):
        raise _refuse("Send the event as a JSON object.")
    try:
        envelope = ClientEvent.model_validate(data)
    except PydanticValidationError as error:
        raise ValidationFailed("The event is not valid.", fields=_fields(error)) from None
    if envelope.name not in CLIENT_EVENTS:
        raise _refuse(f"Pages may report only: {', '.join(sorted(CLIENT_EVENTS))}.", "name")
    try:
        payload = PAYLOADS[envelope.name].model_validate(envelope.payload)
    except PydanticValidationError as error:
        raise ValidationFailed("The event's payload is not valid.", fields=_fields(error, "payload")) from None
    checked = payload.model_dump(exclude_none=True)
    if isinstance(payload, RecommendationPayload) and "product_id" not in checked and "product_ids" not in checked:
        raise _refuse("Name the product (product_id) or the products shown (product_ids).", "payload.product_id")
    return envelope.name, checked


def _count_hit(key: str, limit: int, now: float) -> int | None:
    """Count one request in the current window; the seconds until it ends once `limit` is passed, else None."""
    window = int(now // RATE_WINDOW_SECONDS)
    counter = f"analytics:collect:{key}:{window}"
    cache.add(counter, 0, timeout=RATE_WINDOW_SECONDS + 5)
    try:
        hits = cache.incr(counter)
    except ValueError:
        cache.add(counter, 1, timeout=RATE_WINDOW_SECONDS + 5)
        hits = 1
    if hits <= limit:
        return None
    return max(1, math.ceil((window + 1) * RATE_WINDOW_SECONDS - now))


def check_collect_rate(request: HttpRequest) -> None:
    """At most ANALYTICS_COLLECT_PER_MINUTE reports per visitor (signed id) and ..._PER_IP per client address."""
    now = time.time()
    limits = [(f"ip:{client_ip(request)}", settings.ANALYTICS_COLLECT_PER_MINUTE_PER_IP)]
    current = visitor(request)
    if current.known:
        limits.append((f"v:{current.id}", settings.ANALYTICS_COLLECT_PER_MINUTE))
    waits = [wait for key, limit in limits if (wait := _count_hit(key, limit, now)) is not None]
    if waits:
        raise RateLimited("Too many analytics events; slow down.", retry_after=max(waits))


def collect(request: HttpRequest) -> str:
    """Record the event a page's script (or an API client) reports in the request body; returns its name."""
    check_collect_rate(request)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise _refuse(f"The event is larger than {MAX_BODY_BYTES} bytes.")
    name, payload = parse_client_event(request.body)
    track_request(request, name, payload)
    return name


# Reading ---------------------------------------------------------------------------------------------------------


def latest_views_sql(*, user_id: int | None = None, visitor_id: str | None = None, limit: int) -> tuple[str, list[Any]]:
    """SQL selecting one actor's latest viewed products as (product id, time of their last view), newest first,
    each product once: the signed-in user's, or else the browser visitor's.

    Written out rather than built by the ORM because recommendations run it on every personal request, as part
    of one statement with the shopper's other state, and compiling it cost several times running it. Each actor
    has its own partial index (an OR of the two would defeat SQLite's), which this WHERE clause matches.
    """
    column, actor = ("user_id", user_id) if user_id is not None else ("visitor_id", visitor_id)
    if actor is None or actor == "":
        raise ValueError("latest views need a user id or a visitor id")
    sql = (
        f"SELECT product_id, MAX(created_at) FROM {Event._meta.db_table} "  # noqa: S608 (our names; values are parameters)
        f"WHERE {column} = %s AND name = %s AND product_id IS NOT NULL "
        "GROUP BY product_id ORDER BY 2 DESC, 1 DESC LIMIT %s"
    )
    return sql, [actor, str(EventName.PRODUCT_VIEWED), max(1, min(limit, RECENTLY_VIEWED_MAX))]


def product_views(since: datetime) -> Iterator[tuple[str, int, datetime]]:
    """Every product view since `since`, oldest first, as (actor, product id, time) for co-view training.

    The actor is "u:<user id>" for a signed-in shopper, and also for views their browser made before they
    signed in (its visitor id was seen with their account in the same period); otherwise "v:<visitor id>".
    """
    signed_in = {
        row["visitor_id"]: row["user_id"]
        for row in Event.objects.filter(created_at__gte=since, user_id__isnull=False)
        .exclude(visitor_id="")
        .values("visitor_id", "user_id")
        .annotate(last=Max("created_at"))
        .order_by("last")
    }
    views = (
        Event.objects.filter(name=EventName.PRODUCT_VIEWED, created_at__gte=since, product_id__isnull=False)
        .order_by("created_at", "pk")
        .values_list("user_id", "visitor_id", "product_id", "created_at")
    )
    for user_id, visitor_id, product_id, at in views.iterator(chunk_size=2000):
        if product_id is None:
            continue
        owner = user_id if user_id is not None else signed_in.get(visitor_id)
        if owner is not None:
            yield f"u:{owner}", product_id, at
        elif visitor_id:
            yield f"v:{visitor_id}", product_id, at


# Upkeep ----------------------------------------------------------------------------------------------------------


def purge_old_events(now: datetime | None = None, *, batch: int = PURGE_BATCH) -> int:
    """Delete events older than ANALYTICS_RETENTION_DAYS, `batch` rows per statement so that no delete holds
    locks for long; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ANALYTICS_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += Event.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            return deleted
