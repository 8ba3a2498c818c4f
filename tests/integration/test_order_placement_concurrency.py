"""Many checkouts at once, each on its own connection: never oversold, one order per idempotency key.

On PostgreSQL the checkouts really overlap; on SQLite (a file database, see tests/concurrency.py) writers take
turns, which must give the same outcome.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest

from patron.cart import services as cart_services
from patron.cart.models import Cart
from patron.catalog.models import Product, Variant
from patron.errors import OutOfStock
from patron.orders.models import Order, OrderLine, OrderRequest
from patron.orders.placement import AddressInput, CheckoutInput, place_order
from patron.payments.models import Payment, PaymentStatus
from patron.payments.providers import CardInput
from patron.pricing.models import ShippingMethod
from tests.concurrency import in_threads, own_database_file, race
from tests.factories import make_product

pytestmark = pytest.mark.django_db(transaction=True)

CHECKOUT = CheckoutInput(
    email="shopper@example.com",
    shipping_address=AddressInput(
        full_name="Sam Shopper",
        line1="5 Market St",
        line2="",
        city="Boston",
        region="MA",
        postal_code="02108",
        country="US",
        phone="",
    ),
    card=CardInput(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123"),
)


@pytest.fixture(autouse=True)
def _shipping() -> None:
    # A transactional test starts from empty tables, without the migrations' starting rates.
    ShippingMethod.objects.get_or_create(code="standard", defaults={"name": "Standard", "price": Decimal("4.99")})


def cart_with(variant: Variant) -> Cart:
    cart = cart_services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, variant.pk, 1)
    return cart


@race
def test_fifty_concurrent_checkouts_of_five_units_place_exactly_five_orders(tmp_path: Path) -> None:
    product = make_product("Hot item", price="25.00", stock=5)
    variant = product.variants.get()
    carts = iter([cart_with(variant) for _ in range(50)])
    # Each thread takes its own cart.
    lock = threading.Lock()

    def checkout() -> str:
        with lock:
            cart = next(carts)
        try:
            order = place_order(cart, CHECKOUT, user=None, idempotency_key=f"cart-{cart.pk}")
        except OutOfStock as refusal:
            return refusal.message
        return order.number

    with own_database_file(tmp_path):
        outcomes = in_threads(50, checkout)
        [(stock, total_stock, orders, units, paid)] = in_threads(
            1,
            lambda: (
                Variant.objects.get(pk=variant.pk).stock,
                Product.objects.get(pk=product.pk).total_stock,
                Order.objects.count(),
                sum(OrderLine.objects.values_list("quantity", flat=True)),
                Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count(),
            ),
        )

    refusals = [outcome for outcome in outcomes if "out of stock" in outcome or "left" in outcome]
    assert (len(outcomes) - len(refusals), len(refusals)) == (5, 45), outcomes
    assert all("Hot item" in refusal for refusal in refusals)
    assert (stock, total_stock) == (0, 0)
    assert (orders, units, paid) == (5, 5, 5)


@race
def test_simultaneous_retries_of_one_request_place_one_order(tmp_path: Path) -> None:
    variant = make_product("Lamp", price="30.00", stock=10).variants.get()
    cart = cart_with(variant)

    with own_database_file(tmp_path):
        numbers = in_threads(8, lambda: place_order(cart, CHECKOUT, user=None, idempotency_key="once").number)
        [(stock, orders, requests, payments)] = in_threads(
            1,
            lambda: (
                Variant.objects.get(pk=variant.pk).stock,
                Order.objects.count(),
                OrderRequest.objects.count(),
                Payment.objects.count(),
            ),
        )

    assert len(set(numbers)) == 1
    assert (stock, orders, requests, payments) == (9, 1, 1, 1)
