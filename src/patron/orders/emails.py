"""Customer emails about an order: each is sent once, in plain text and HTML, with a link to the order page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from patron.orders.models import Order, OrderEmail, Shipment
from patron.orders.placement import order_access_token


def order_url(order: Order) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("orders:detail", args=[order.number])


def _send_once(order: Order, key: str, template: str, context: dict[str, Any]) -> bool:
    """Send unless this email already went out; a failed send leaves no record, so a retry sends it."""
    context = {"order": order, "order_url": order_url(order), "store_name": settings.STORE_NAME, **context}
    subject = " ".join(render_to_string(f"orders/email/{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"orders/email/{template}.txt", context),
        to=[order.email],
    )
    message.attach_alternative(render_to_string(f"orders/email/{template}.html", context), "text/html")
    try:
        with transaction.atomic():
            OrderEmail.objects.create(order=order, key=key)
            message.send()
    except IntegrityError:
        return False
    return True


def send_shipped(order_id: int, shipment_id: int) -> bool:
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id, order_id=order_id)
    return _send_once(shipment.order, f"shipped:{shipment.pk}", "shipped", {"shipment": shipment})


def send_delivered(order_id: int) -> bool:
    order = Order.objects.get(pk=order_id)
    return _send_once(order, "delivered", "delivered", {})


def guest_order_url(order: Order) -> str:
    """The order page behind the order's signed link, which opens without signing in."""
    path = reverse("storefront:order_page", args=[order.number])
    return f"{settings.SITE_URL.rstrip('/')}{path}?{urlencode({'token': order_access_token(order)})}"


def send_confirmation(order_id: int) -> bool:
    """The order confirmation, once the order is paid: what was bought, the totals and where it goes."""
    order = Order.objects.prefetch_related("lines").get(pk=order_id)
    lines = sorted(order.lines.all(), key=lambda line: line.pk)
    return _send_once(order, "confirmation", "confirmation", {"lines": lines, "order_url": guest_order_url(order)})


def resend_confirmation(order_id: int, *, now: datetime | None = None) -> bool:
    """The order confirmation (the shopper's invoice) again, to the order's own address, at most once an hour."""
    order = Order.objects.prefetch_related("lines").get(pk=order_id)
    lines = sorted(order.lines.all(), key=lambda line: line.pk)
    key = f"invoice:{(now or timezone.now()):%Y%m%d%H}"
    return _send_once(order, key, "confirmation", {"lines": lines, "order_url": guest_order_url(order)})
