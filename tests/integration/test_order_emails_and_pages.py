"""Shipped and delivered emails through a real SMTP server on loopback; the order pages and their live timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries, Settings

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.orders import services, tasks
from patron.orders.models import Order, OrderEmail, OrderStatus
from tests.factories import make_product
from tests.order_factories import make_order, pay
from tests.servers import Inbox, free_port, message_parts

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant() -> Variant:
    return make_product("Kettle", price="20.00", stock=10).variants.get()


def _paid(variant: Variant, user: User) -> Order:
    order = make_order([(variant, 1)], user=user)
    services.mark_paid(order.pk, pay(order).pk)
    order.refresh_from_db()
    return order


def test_shipped_and_delivered_emails(
    smtp_inbox: Inbox,
    customer: User,
    staff: User,
    variant: Variant,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    order = _paid(variant, customer)
    with django_capture_on_commit_callbacks(execute=True):
        shipment = services.add_shipment(
            order,
            carrier="Parcelo",
            tracking_number="PX-1",
            tracking_url="https://track.parcelo.example/PX-1",
            actor=staff,
        )
    [shipped] = smtp_inbox.messages
    assert shipped["To"] == "ada@example.com"
    assert shipped["Subject"] == f"Your order {order.number} is on its way"
    text, html = message_parts(shipped)
    order_link = f"https://shop.example.com/account/orders/{order.number}/"
    assert "https://track.parcelo.example/PX-1" in text and order_link in text
    assert 'href="https://track.parcelo.example/PX-1"' in html and f'href="{order_link}"' in html

    # A retried task does not send it again.
    assert tasks.send_shipped_email.call(order_id=order.pk, shipment_id=shipment.pk) is False
    assert len(smtp_inbox.messages) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.add_tracking_event(shipment, at=datetime(2026, 1, 3, tzinfo=UTC), status="delivered")
    assert len(smtp_inbox.messages) == 2
    delivered = smtp_inbox.messages[1]
    assert delivered["Subject"] == f"Your order {order.number} has been delivered"
    assert order_link in message_parts(delivered)[0]
    assert set(OrderEmail.objects.values_list("key", flat=True)) == {f"shipped:{shipment.pk}", "delivered"}


def test_a_failed_send_can_be_retried(customer: User, staff: User, variant: Variant, settings: Settings) -> None:
    order = _paid(variant, customer)
    shipment = services.add_shipment(order, carrier="Parcelo", tracking_number="PX-1", actor=staff)
    # Nothing listens on this port: the send fails and leaves no record behind.
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }
    with pytest.raises(OSError):
        tasks.send_shipped_email.call(order_id=order.pk, shipment_id=shipment.pk)
    assert not OrderEmail.objects.exists()


def test_order_list_and_page(
    client: Client, customer: User, variant: Variant, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    order = _paid(variant, customer)
    other = make_order([(variant, 1)], user=make_user("eve@example.com"))
    client.force_login(customer)

    listing = client.get(reverse("orders:list")).content.decode()
    assert order.number in listing and other.number not in listing
    assert f'href="{reverse("orders:list")}" aria-current="page"' in listing

    with django_assert_max_num_queries(10):
        page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "Kettle" in page and "25.00" in page
    assert 'aria-live="polite"' in page
    assert f'hx-get="{reverse("orders:timeline", args=[order.number])}"' in page
    assert 'hx-trigger="every 5s"' in page
    assert client.get(reverse("orders:detail", args=[other.number])).status_code == 404

    client.logout()
    assert client.get(reverse("orders:detail", args=[order.number])).status_code == 302


def test_the_timeline_fragment_shows_changes_and_stops_polling_when_final(
    client: Client, customer: User, staff: User, variant: Variant
) -> None:
    order = _paid(variant, customer)
    client.force_login(customer)
    url = reverse("orders:timeline", args=[order.number])
    before = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Parcelo" not in before and "<html" not in before

    shipment = services.add_shipment(order, carrier="Parcelo", tracking_number="PX-7", actor=staff)
    services.add_tracking_event(
        shipment, at=datetime(2026, 1, 2, 8, tzinfo=UTC), status="out_for_delivery", location="Camden"
    )
    shipped = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "PX-7" in shipped and "Out for delivery" in shipped and "Camden" in shipped
    assert 'data-status="shipped"' in shipped and 'hx-trigger="every 5s"' in shipped

    services.add_tracking_event(shipment, at=datetime(2026, 1, 2, 12, tzinfo=UTC), status="delivered")
    final = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="delivered"' in final
    assert "hx-trigger" not in final


def test_the_customer_cancels_from_the_order_page(client: Client, customer: User, variant: Variant) -> None:
    order = make_order([(variant, 3)], user=customer)
    client.force_login(customer)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "Cancel this order" in page

    response = client.post(reverse("orders:cancel", args=[order.number]))
    assert response.status_code == 302
    order.refresh_from_db()
    variant.refresh_from_db()
    assert (order.status, variant.stock) == (OrderStatus.CANCELLED, 10)
    assert "Cancel this order" not in client.get(reverse("orders:detail", args=[order.number])).content.decode()
