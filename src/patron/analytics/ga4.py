"""Google Analytics 4: the standard e-commerce events with GA4's item schema, off unless GA4_MEASUREMENT_ID is set.

Nothing here talks to Google. Pages carry the events as data; `static/analytics/analytics.js` hands them to
gtag.js, which it loads only once the visitor accepted the consent banner (Consent Mode v2 with everything
denied by default). Events of an htmx swap (add to cart, remove from cart) travel in the swap's HX-Trigger
header instead, queued here by the service that records the action.

Catalog pages are cached and shared, so what they carry is the catalog's (product ids, names, prices), never the
visitor's; the checkout and confirmation pages, which are never cached, carry the cart's and the order's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from patron.catalog.models import Product, Variant
from patron.orders.models import Order

logger = logging.getLogger(__name__)

MEASUREMENT_ID_PATTERN = re.compile(r"G-[A-Z0-9]{4,20}")
CONSENT_COOKIE = "patron_consent"
# The event htmx fires on the page for the GA4 events of a swap (see the HX-Trigger header).
TRIGGER_EVENT = "patron:ga4"
MAX_ITEMS = 50
_QUEUE_ATTRIBUTE = "_patron_ga4_events"

GA4Event = dict[str, Any]


def measurement_id() -> str:
    """The configured measurement id, or "" when GA4 is off (unset or not a GA4 id)."""
    return _checked(settings.GA4_MEASUREMENT_ID.strip())


@cache
def _checked(configured: str) -> str:
    # Cached so that a wrong setting is logged once, not on every page.
    if configured and not MEASUREMENT_ID_PATTERN.fullmatch(configured):
        logger.warning("GA4_MEASUREMENT_ID %r is not a GA4 measurement id (G-...); GA4 stays off", configured)
        return ""
    return configured


def event(name: str, **params: Any) -> GA4Event:
    return {"event": name, "params": params}


def amount(value: Decimal) -> float:
    """GA4 wants numbers; a currency amount has two decimals, which a float carries exactly enough."""
    return float(value)


def item(
    product_id: int,
    name: str,
    *,
    price: Decimal,
    quantity: int = 1,
    brand: str = "",
    sku: str = "",
    category: str = "",
    index: int | None = None,
) -> dict[str, Any]:
    """One entry of an event's `items`: the product id is the item id, the variant's SKU its variant."""
    data: dict[str, Any] = {"item_id": str(product_id), "item_name": name, "price": amount(price)}
    if brand:
        data["item_brand"] = brand
    if category:
        data["item_category"] = category
    if sku:
        data["item_variant"] = sku
    if index is not None:
        data["index"] = index
    data["quantity"] = quantity
    return data


def variant_item(variant: Variant, *, price: Decimal, quantity: int) -> dict[str, Any]:
    """The entry for `quantity` of a variant whose product is loaded."""
    product = variant.product
    return item(product.pk, product.name, price=price, quantity=quantity, brand=product.brand, sku=variant.sku)


def items_value(items: Iterable[dict[str, Any]]) -> float:
    return round(sum(entry["price"] * entry["quantity"] for entry in items), 2)


def queue(request: HttpRequest, ga_event: GA4Event) -> None:
    """Send `ga_event` with the response to this htmx request (nothing happens when GA4 is off)."""
    if not measurement_id():
        return
    queued_events: list[GA4Event] = getattr(request, _QUEUE_ATTRIBUTE, [])
    queued_events.append(ga_event)
    setattr(request, _QUEUE_ATTRIBUTE, queued_events)


def queued(request: HttpRequest) -> list[GA4Event]:
    return list(getattr(request, _QUEUE_ATTRIBUTE, []))


def cart_event(name: str, variant: Variant, quantity: int) -> GA4Event:
    """add_to_cart or remove_from_cart for `quantity` of a variant (its product loaded)."""
    entry = variant_item(variant, price=variant.price, quantity=quantity)
    return event(name, currency=settings.STORE_CURRENCY, value=items_value([entry]), items=[entry])


# Page events -----------------------------------------------------------------------------------------------------


def view_item(product: Product, variant: Variant | None) -> GA4Event:
    entry = item(
        product.pk,
        product.name,
        price=variant.price if variant is not None else product.min_price,
        brand=product.brand,
        sku=variant.sku if variant is not None else "",
        category=product.category.name,
    )
    return event("view_item", currency=settings.STORE_CURRENCY, value=entry["price"], items=[entry])


def view_item_list(products: Iterable[Product], *, list_id: str, list_name: str) -> GA4Event:
    entries = [
        item(product.pk, product.name, price=product.min_price, brand=product.brand, index=index)
        for index, product in enumerate(list(products)[:MAX_ITEMS])
    ]
    return event("view_item_list", item_list_id=list_id, item_list_name=list_name, items=entries)


def begin_checkout(lines: Iterable[tuple[Variant, Decimal, int]], total: Decimal | None) -> GA4Event:
    """From the cart's buyable lines (variant, unit price, quantity); `total` is None when it cannot be priced."""
    entries = [
        variant_item(variant, price=price, quantity=quantity) for variant, price, quantity in list(lines)[:MAX_ITEMS]
    ]
    value = amount(total) if total is not None else items_value(entries)
    return event("begin_checkout", currency=settings.STORE_CURRENCY, value=value, items=entries)


def purchase(order: Order) -> GA4Event:
    """The order as placed (its lines loaded); the transaction id is the order number, which GA4 counts once.

    `value` is the merchandise after the discount, without tax and shipping, as GA4 asks; those go apart."""
    entries = [
        item(line.product_id, line.product_name, price=line.unit_price, quantity=line.quantity, sku=line.sku)
        for line in list(order.lines.all())[:MAX_ITEMS]
    ]
    return event(
        "purchase",
        transaction_id=order.number,
        currency=order.currency,
        value=amount(order.subtotal - order.discount),
        tax=amount(order.tax),
        shipping=amount(order.shipping),
        items=entries,
    )
