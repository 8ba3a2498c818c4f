"""What a page tells the analytics script: the events its script reports (beacons) and its GA4 events.

Read from the context the page was rendered with, by page (URL name): product page -> `product_viewed` and
`view_item`; search -> `search_performed` with the query and result count, GA4 `search` and `view_item_list`;
category -> `view_item_list`; checkout (GET) -> `begin_checkout`; order confirmation -> `purchase`. Everything
here is already in the page's own context, so no page pays a query for analytics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from patron.analytics import ga4
from patron.analytics.models import EventName
from patron.analytics.services import MAX_STRING
from patron.cart.services import CartView
from patron.catalog.models import Category, Product, Variant
from patron.catalog.services import ProductPage
from patron.orders.models import Order


@dataclass
class PageEvents:
    beacons: list[dict[str, Any]] = field(default_factory=list)
    ga4: list[ga4.GA4Event] = field(default_factory=list)


Context = Mapping[str, Any]


def _product(context: Context, request: HttpRequest) -> PageEvents:
    product, variant = context.get("product"), context.get("variant")
    if not isinstance(product, Product):
        return PageEvents()
    return PageEvents(
        beacons=[{"name": EventName.PRODUCT_VIEWED, "payload": {"product_id": product.pk}}],
        ga4=[ga4.view_item(product, variant if isinstance(variant, Variant) else None)],
    )


def _search(context: Context, request: HttpRequest) -> PageEvents:
    results = context.get("results")
    if not context.get("searching") or not isinstance(results, ProductPage):
        return PageEvents()
    query = str(context.get("query") or "")[:MAX_STRING]
    events = PageEvents(
        beacons=[{"name": EventName.SEARCH_PERFORMED, "payload": {"query": query, "result_count": results.total}}],
    )
    if query:
        events.ga4.append(ga4.event("search", search_term=query))
    events.ga4.append(ga4.view_item_list(results.products, list_id="search_results", list_name="Search results"))
    return events


def _category(context: Context, request: HttpRequest) -> PageEvents:
    results, category = context.get("results"), context.get("category")
    if not isinstance(results, ProductPage) or not isinstance(category, Category):
        return PageEvents()
    return PageEvents(ga4=[ga4.view_item_list(results.products, list_id=category.slug, list_name=category.name)])


def _checkout(context: Context, request: HttpRequest) -> PageEvents:
    # A form sent back with errors is the same checkout, not a new start.
    view = context.get("view")
    if request.method != "GET" or not isinstance(view, CartView) or not view.items:
        return PageEvents()
    lines = [(item.variant, item.unit_price, item.quantity) for item in view.items if item.available]
    return PageEvents(ga4=[ga4.begin_checkout(lines, view.quote.total if view.quote is not None else None)])


def _confirmation(context: Context, request: HttpRequest) -> PageEvents:
    order = context.get("order")
    return PageEvents(ga4=[ga4.purchase(order)] if isinstance(order, Order) else [])


PAGES: dict[str, Callable[[Context, HttpRequest], PageEvents]] = {
    "storefront:product": _product,
    "storefront:search": _search,
    "storefront:category": _category,
    "storefront:checkout": _checkout,
    "storefront:order_confirmation": _confirmation,
}


def page_events(context: Context, request: HttpRequest) -> PageEvents:
    match = request.resolver_match
    builder = PAGES.get(match.view_name) if match is not None else None
    return builder(context, request) if builder is not None else PageEvents()
