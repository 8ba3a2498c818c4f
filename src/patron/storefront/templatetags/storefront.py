"""Presentation helpers for storefront templates: money, prices of a product, stock wording, query strings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from patron.catalog import renditions
from patron.catalog.models import Product, ProductImage, Variant

register = template.Library()

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "CHF": "CHF "}
LOW_STOCK_THRESHOLD = 5
DEFAULT_EAGER_IMAGES = 4
# Characters that could end the <script> element or open an HTML comment inside embedded JSON.
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.filter
def money(amount: Decimal | int | float | str | None) -> str:
    if amount is None or amount == "":
        return ""
    symbol = CURRENCY_SYMBOLS.get(settings.STORE_CURRENCY, f"{settings.STORE_CURRENCY} ")
    return f"{symbol}{Decimal(amount):,.2f}"


def stock_level(stock: int) -> str:
    """ "out", "low" or "in": how urgent the stock wording should look."""
    if stock <= 0:
        return "out"
    return "low" if stock <= LOW_STOCK_THRESHOLD else "in"


def stock_text(stock: int) -> str:
    if stock <= 0:
        return "Out of stock"
    if stock <= LOW_STOCK_THRESHOLD:
        return f"Only {stock} left"
    return "In stock"


@register.filter
def below_fold(position: int, eager: int | str | None) -> bool:
    """Whether the n-th image of a list may load lazily; the first `eager` ones (default 4) are above the fold."""
    return position > (DEFAULT_EAGER_IMAGES if eager in (None, "") else int(eager))


@register.filter
def stock_label(stock: int) -> str:
    return stock_text(stock)


@register.filter(name="stock_level")
def stock_level_filter(stock: int) -> str:
    return stock_level(stock)


@dataclass(frozen=True)
class PriceInfo:
    price: Decimal
    compare_at: Decimal | None
    is_range: bool


def active_variants(product: Product) -> list[Variant]:
    """The buyable variants, from the prefetched (ordered) list so that no query runs per product."""
    return [variant for variant in product.variants.all() if variant.is_active]


@register.simple_tag
def price_info(product: Product) -> PriceInfo:
    variants = active_variants(product)
    if not variants:
        return PriceInfo(price=product.min_price, compare_at=None, is_range=False)
    cheapest = min(variants, key=lambda variant: variant.price)
    return PriceInfo(
        price=cheapest.price,
        compare_at=cheapest.compare_at_price if cheapest.on_sale else None,
        is_range=any(variant.price != cheapest.price for variant in variants),
    )


@register.filter
def srcset(image: ProductImage) -> str:
    """The picture's `srcset` (its smaller copies and itself), for an `<img>` that also says its `sizes`."""
    return renditions.image_srcset(image)


@register.simple_tag
def first_image(product: Product) -> ProductImage | None:
    images = product.images.all()
    return images[0] if images else None


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    """The current query string with some parameters replaced; a value of None removes the parameter."""
    request: HttpRequest = context["request"]
    params = request.GET.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value is not None and value != "":
            params[name] = str(value)
    return f"?{params.urlencode()}" if params else "?"


@register.filter
def ld_json(value: Any) -> SafeString:
    """JSON for a <script> element (JSON-LD or data for scripts), safe against markup injection."""
    return mark_safe(json.dumps(value, cls=DjangoJSONEncoder).translate(_JSON_SCRIPT_ESCAPES))  # noqa: S308
