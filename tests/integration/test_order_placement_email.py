"""The order confirmation email: sent once when a placed order is paid, over a real SMTP server on loopback."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks

from patron.cart import services as cart_services
from patron.orders import tasks
from patron.orders.models import Order, OrderEmail, OrderStatus
from patron.orders.placement import AddressInput, CheckoutInput, order_access_token, place_order
from patron.payments.providers import CardInput
from patron.payments.services import PaymentDeclined
from tests.factories import make_product
from tests.servers import Inbox, message_parts

# The loopback SMTP server of the shipped and delivered emails' tests.

pytestmark = pytest.mark.django_db

ADDRESS = AddressInput(
    full_name="Grace Hopper",
    line1="1 Harbour St",
    line2="Apt 4",
    city="Arlington",
    region="VA",
    postal_code="22201",
    country="US",
    phone="",
)


def test_a_paid_order_sends_its_confirmation_once_with_the_guest_link(
    smtp_inbox: Inbox,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    client: Client,
) -> None:
    teapot = make_product("Teapot", price="24.00", stock=3, options=[{"colour": "Blue"}]).variants.get()
    cart = cart_services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, teapot.pk, 2)
    card = CardInput(number="4242424242424242", exp_month=1, exp_year=2099, cvc="321")

    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(
            cart,
            CheckoutInput(email="grace@example.com", shipping_address=ADDRESS, card=card),
            user=None,
            idempotency_key="k",
        )

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    [message] = smtp_inbox.messages
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == f"Thank you for your order {order.number}"
    text, html = message_parts(message)
    link = f"https://shop.example.com/orders/{order.number}/?token={order_access_token(order)}"
    assert link in text
    assert link in html
    assert "2 x Teapot (colour: Blue)  48.00 USD" in text
    assert f"Total: {order.total} USD" in text
    assert order.total == Decimal("48.00") + order.shipping + order.tax
    assert "Apt 4" in text and "Grace Hopper" in html
    # The link opens the order page without signing in.
    assert client.get(link.removeprefix("https://shop.example.com")).status_code == 200

    # A retried task sends nothing more.
    assert tasks.send_confirmation_email.call(order_id=order.pk) is False
    assert len(smtp_inbox.messages) == 1
    assert OrderEmail.objects.filter(order=order, key="confirmation").count() == 1


def test_an_unpaid_order_sends_no_confirmation(
    smtp_inbox: Inbox, immediate_tasks: None, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    lamp = make_product("Lamp", price="10.00", stock=3).variants.get()
    cart = cart_services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, lamp.pk, 1)
    declined = CardInput(number="4000000000000002", exp_month=1, exp_year=2099, cvc="321")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PaymentDeclined):
        place_order(
            cart,
            CheckoutInput(email="grace@example.com", shipping_address=ADDRESS, card=declined),
            user=None,
            idempotency_key="k",
        )

    assert Order.objects.get().status == OrderStatus.PENDING_PAYMENT
    assert smtp_inbox.messages == []
