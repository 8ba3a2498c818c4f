"""Follow-up emails: plain text and HTML from templates, the merchant's subject and opening, every link tracked,
a tracking pixel, and the one-click unsubscribe link in the footer and in the List-Unsubscribe headers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Prefetch
from django.template import TemplateSyntaxError, engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode

from patron.catalog.models import Product, ProductImage, Variant
from patron.followups import links
from patron.followups.flows import DEFAULT_FLOWS
from patron.followups.models import Flow, FlowKey, Message
from patron.recommendations import services as recommendations
from patron.reviews.models import Review
from patron.reviews.services import write_link_token

logger = logging.getLogger(__name__)
SUGGESTIONS = 4
HOW_TO_WORDS = 40


def _absolute(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else links.absolute(url)


def _image(product: Product) -> str:
    images = list(product.images.all())
    return _absolute(images[0].image.url) if images else ""


def _merchant_text(source: str, context: dict[str, Any], fallback: str) -> str:
    """The merchant's text with its {{ placeholders }} filled in; their default if it does not parse."""
    engine = engines["django"]
    try:
        return engine.from_string(source).render(context).strip()
    except TemplateSyntaxError:
        logger.warning("a follow-up text does not parse; using the default: %r", source)
        return engine.from_string(fallback).render(context).strip()


def _products(product_ids: list[int]) -> list[Product]:
    images = Prefetch("images", queryset=ProductImage.objects.order_by("position", "id"))
    found = {product.pk: product for product in Product.objects.filter(pk__in=product_ids).prefetch_related(images)}
    return [found[pk] for pk in product_ids if pk in found]


@dataclass(frozen=True)
class Suggestion:
    name: str
    price: Decimal
    image: str
    url: str


def _category_bestsellers(order_product_ids: list[int], limit: int) -> list[Product]:
    categories = Product.objects.filter(pk__in=order_product_ids).values("category_id")
    images = Prefetch("images", queryset=ProductImage.objects.order_by("position", "id"))
    found = (
        Product.objects.filter(category_id__in=categories, is_active=True, total_stock__gt=0)
        .exclude(pk__in=order_product_ids)
        .order_by("-sales_count", "-id")
        .prefetch_related(images)
    )
    return list(found[:limit])


def suggestions(message: Message, order_product_ids: list[int], limit: int = SUGGESTIONS) -> list[Suggestion]:
    """The customer's own recommendations (the store's recommendation engine, with its rules: in stock, not just
    bought); when the engine has nothing to offer, the best-sellers of the categories of what was bought."""
    if message.user_id is not None:
        query = recommendations.Query(
            context=recommendations.Context.ACCOUNT, kind=recommendations.Kind.FOR_YOU, limit=limit
        )
        found = recommendations.recommend(query, recommendations.Audience(user_id=message.user_id)).items
        if found:
            return [
                Suggestion(
                    item.card.name,
                    item.card.price,
                    _absolute(item.card.image_url) if item.card.image_url else "",
                    links.tracked(message, item.card.url),
                )
                for item in found
            ]
    return [
        Suggestion(product.name, product.min_price, _image(product), _product_url(message, product))
        for product in _category_bestsellers(order_product_ids, limit)
    ]


def _product_url(message: Message, product: Product) -> str:
    return links.tracked(message, reverse("storefront:product", args=[product.slug]))


def _review_request(message: Message) -> dict[str, Any]:
    assert message.order is not None and message.user_id is not None
    bought = list(dict.fromkeys(message.order.lines.order_by("id").values_list("product_id", flat=True)))
    reviewed = set(Review.objects.filter(user_id=message.user_id).values_list("product_id", flat=True))
    items = []
    for product in _products([pk for pk in bought if pk not in reviewed]):
        write = reverse("reviews:write", args=[product.slug])
        token = write_link_token(message.user_id, product.pk)

        def star(stars: int, write: str = write, token: str = token) -> str:
            return links.tracked(message, f"{write}?{urlencode({'rating': str(stars), 'token': token})}")

        items.append(
            {
                "product": product,
                "image": _image(product),
                "stars": [(stars, star(stars)) for stars in range(1, 6)],
                "write_url": links.tracked(message, f"{write}?{urlencode({'token': token})}"),
            }
        )
    return {"items": items, "reminder": message.step > 0}


def _survey(message: Message, low: int, high: int) -> dict[str, Any]:
    return {"scores": [(score, links.tracked(message, links.survey(message, score))) for score in range(low, high + 1)]}


def _thank_you(message: Message) -> dict[str, Any]:
    assert message.order is not None
    bought = list(dict.fromkeys(message.order.lines.order_by("id").values_list("product_id", flat=True)))
    items = [
        {"product": product, "image": _image(product), "url": _product_url(message, product)}
        for product in _products(bought)
    ]
    return {"items": items, "suggestions": suggestions(message, bought), "how_to_words": HOW_TO_WORDS}


def _abandoned_cart(message: Message) -> dict[str, Any]:
    lines = message.context.get("lines", [])
    variants = Variant.objects.select_related("product").in_bulk([variant_id for variant_id, _ in lines])
    items = [
        {"variant": variants[variant_id], "quantity": quantity}
        for variant_id, quantity in lines
        if variant_id in variants
    ]
    return {"items": items, "restore_url": links.tracked(message, links.restore_cart(message))}


def _flow_context(message: Message) -> dict[str, Any]:
    if message.flow == FlowKey.REVIEW_REQUEST:
        return _review_request(message)
    if message.flow == FlowKey.NPS:
        return _survey(message, 0, 10)
    if message.flow == FlowKey.CSAT:
        return _survey(message, 1, 5)
    if message.flow == FlowKey.THANK_YOU:
        return _thank_you(message)
    return _abandoned_cart(message)


def _name(message: Message) -> str:
    if message.user is not None and message.user.name:
        return message.user.get_short_name()
    return str(message.context.get("name") or "there").split(" ")[0]


def build(message: Message, flow: Flow) -> EmailMultiAlternatives:
    """The email of `message`, ready to send."""
    fields = {
        "name": _name(message),
        "store_name": settings.STORE_NAME,
        "order_number": message.order.number if message.order is not None else "",
    }
    defaults = DEFAULT_FLOWS[flow.key]
    unsubscribe_url = links.unsubscribe(message)
    context = {
        **fields,
        **_flow_context(message),
        "message": message,
        "subject": " ".join(_merchant_text(flow.subject, fields, defaults["subject"]).split()),
        "intro": _merchant_text(flow.intro, fields, defaults["intro"]),
        "shop_url": links.tracked(message, reverse("storefront:home")),
        "unsubscribe_url": unsubscribe_url,
        "pixel_url": links.pixel(message),
    }
    email = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string(f"followups/email/{flow.key}.txt", context),
        to=[message.email],
        headers={
            # RFC 8058: mail clients show their own unsubscribe button, which POSTs to this address.
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(render_to_string(f"followups/email/{flow.key}.html", context), "text/html")
    return email
