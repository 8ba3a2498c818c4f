"""Placing orders from the cart: re-pricing, stock, snapshots, discounts, declines and retries, idempotency."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from patron.accounts.models import Address
from patron.accounts.testing import make_user
from patron.cart import services as cart_services
from patron.cart.models import Cart
from patron.catalog.models import Product, Variant
from patron.errors import Conflict, NotFound, OutOfStock, ValidationFailed
from patron.orders import services as order_services
from patron.orders.models import Order, OrderRequest, OrderStatus
from patron.orders.placement import (
    AddressInput,
    CheckoutInput,
    order_access_token,
    order_for_token,
    pay_order,
    place_order,
)
from patron.payments.models import Payment, PaymentStatus
from patron.payments.providers import CardInput
from patron.payments.services import PaymentDeclined
from patron.payments.testing import (
    STUB_SECRET_KEY,
    STUB_WEBHOOK_SECRET,
    deliver_webhook,
    running_stripe_stub,
    stripe_event,
)
from patron.pricing.models import DiscountRedemption, ShippingMethod
from patron.pricing.services import issue_discount_code
from tests.factories import make_product

pytestmark = pytest.mark.django_db

GOOD = CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")
DECLINED = CardInput(number="4000 0000 0000 0002", exp_month=12, exp_year=2099, cvc="123")
ADDRESS = AddressInput(
    full_name="Ada Lovelace",
    line1="1 Analytical Way",
    line2="",
    city="London",
    region="",
    postal_code="N1 1AA",
    country="gb",
    phone="",
)


def checkout(**changes: object) -> CheckoutInput:
    return replace(CheckoutInput(email="ada@example.com", shipping_address=ADDRESS, card=GOOD), **changes)  # type: ignore[arg-type]


def variant_of(product: Product) -> Variant:
    return product.variants.get()


def guest_cart(*lines: tuple[Variant, int]) -> Cart:
    cart = cart_services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    for variant, quantity in lines:
        cart_services.add_item(cart, variant.pk, quantity)
    return cart


def stock(variant: Variant) -> int:
    variant.refresh_from_db()
    return variant.stock


@pytest.fixture
def mug() -> Variant:
    return variant_of(make_product("Mug", price="12.50", stock=5))


def test_a_guest_order_snapshots_prices_takes_stock_pays_and_clears_the_cart(
    mug: Variant, immediate_tasks: None, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    cart = guest_cart((mug, 2))

    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(cart, checkout(shipping_method="express"), user=None, idempotency_key="k1")

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert (order.subtotal, order.shipping) == (Decimal("25.00"), Decimal("14.99"))
    # GB VAT applies to goods and shipping.
    assert order.tax == Decimal("7.998").quantize(Decimal("0.01"))
    assert order.total == order.subtotal + order.shipping + order.tax
    assert order.shipping_address["country"] == "GB"
    assert order.shipping_method == "express"
    line = order.lines.get()
    assert (line.product_name, line.sku, line.unit_price, line.quantity, line.line_total) == (
        "Mug",
        mug.sku,
        Decimal("12.50"),
        2,
        Decimal("25.00"),
    )
    assert stock(mug) == 3
    assert not cart.lines.exists()
    assert [(c.from_status, c.to_status) for c in order.history.all()] == [
        ("", OrderStatus.PENDING_PAYMENT),
        (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
    ]
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, order.total)


def test_prices_are_taken_from_the_catalog_at_checkout(mug: Variant) -> None:
    cart = guest_cart((mug, 1))
    Variant.objects.filter(pk=mug.pk).update(price=Decimal("15.00"))

    order = place_order(cart, checkout(), user=None, idempotency_key="k1")

    assert order.lines.get().unit_price == Decimal("15.00")
    assert order.subtotal == Decimal("15.00")


def test_field_errors_are_reported_together_and_nothing_is_placed(mug: Variant) -> None:
    cart = guest_cart((mug, 1))
    broken = replace(ADDRESS, line1=" ", country="GBR")

    with pytest.raises(ValidationFailed) as refusal:
        place_order(cart, checkout(email="not-an-email", shipping_address=broken), user=None, idempotency_key="k")

    assert set(refusal.value.fields) == {"email", "line1", "country"}
    assert not Order.objects.exists()
    assert stock(mug) == 5


def test_an_empty_cart_or_a_missing_key_is_refused(mug: Variant) -> None:
    with pytest.raises(ValidationFailed) as empty:
        place_order(guest_cart(), checkout(), user=None, idempotency_key="k")
    assert "empty" in empty.value.message
    with pytest.raises(ValidationFailed) as keyless:
        place_order(guest_cart((mug, 1)), checkout(), user=None, idempotency_key=" ")
    assert "idempotency_key" in keyless.value.fields


def test_an_item_that_sold_out_since_it_was_added_is_refused_clearly(mug: Variant) -> None:
    cart = guest_cart((mug, 3))
    Variant.objects.filter(pk=mug.pk).update(stock=1)

    with pytest.raises(OutOfStock) as refusal:
        place_order(cart, checkout(), user=None, idempotency_key="k")

    assert refusal.value.status == 409
    assert "Only 1 left" in refusal.value.message
    assert not Order.objects.exists()
    assert cart.lines.count() == 1


def test_a_saved_address_of_the_customer_is_used_and_someone_elses_is_refused(mug: Variant) -> None:
    ada = make_user()
    other = make_user("bob@example.com")
    home = Address.objects.create(
        user=ada, full_name="Ada L", line1="2 Engine St", city="Paris", postal_code="75001", country="FR"
    )
    theirs = Address.objects.create(
        user=other, full_name="Bob", line1="3 Rue", city="Lyon", postal_code="69001", country="FR"
    )
    cart = cart_services.get_cart(user=ada, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, mug.pk, 1)

    with pytest.raises(ValidationFailed) as refusal:
        place_order(
            cart, checkout(email="", shipping_address=None, saved_address_id=theirs.pk), user=ada, idempotency_key="a"
        )
    assert "saved_address_id" in refusal.value.fields

    order = place_order(
        cart, checkout(email="", shipping_address=None, saved_address_id=home.pk), user=ada, idempotency_key="b"
    )
    assert (order.user, order.email, order.shipping_address["city"]) == (ada, ada.email, "Paris")


def test_a_discount_code_is_redeemed_with_the_order(mug: Variant) -> None:
    code = issue_discount_code(kind="percent", value=Decimal("10"))
    cart = guest_cart((mug, 2))

    order = place_order(cart, checkout(discount_code=code.code.lower()), user=None, idempotency_key="k")

    assert order.discount == Decimal("2.50")
    redemption = DiscountRedemption.objects.get(order=order)
    assert redemption.code == code
    with pytest.raises(ValidationFailed) as used_up:
        place_order(guest_cart((mug, 1)), checkout(discount_code=code.code), user=None, idempotency_key="k2")
    assert "discount_code" in used_up.value.fields
    assert stock(mug) == 3


def test_free_shipping_and_free_product_codes_are_recorded_at_what_they_saved(mug: Variant) -> None:
    free_shipping = issue_discount_code(kind="free_shipping")
    order = place_order(
        guest_cart((mug, 1)), checkout(discount_code=free_shipping.code), user=None, idempotency_key="ship"
    )
    assert (order.discount, order.shipping, order.total) == (
        Decimal("0.00"),
        Decimal("0.00"),
        order.subtotal + order.tax,
    )
    assert DiscountRedemption.objects.get(order=order).amount == Decimal("4.99")

    free_mug = issue_discount_code(kind="free_product", product=mug.product)
    order = place_order(guest_cart((mug, 2)), checkout(discount_code=free_mug.code), user=None, idempotency_key="mug")
    assert order.discount == mug.price
    assert DiscountRedemption.objects.get(order=order).amount == mug.price


def test_a_declined_card_leaves_the_order_unpaid_gives_stock_back_and_a_retry_pays(
    mug: Variant, immediate_tasks: None, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    cart = guest_cart((mug, 2))

    with pytest.raises(PaymentDeclined) as refusal:
        place_order(cart, checkout(card=DECLINED), user=None, idempotency_key="k")

    assert refusal.value.status == 402
    order = Order.objects.get()
    assert refusal.value.fields == {"order": [order.number]}
    assert "declined" in refusal.value.message
    assert (order.status, order.stock_reserved) == (OrderStatus.PENDING_PAYMENT, False)
    assert stock(mug) == 5
    # The same request again gives the same answer, without touching stock.
    with pytest.raises(PaymentDeclined):
        place_order(cart, checkout(card=DECLINED), user=None, idempotency_key="k")
    assert Order.objects.count() == 1
    assert stock(mug) == 5

    with django_capture_on_commit_callbacks(execute=True):
        payment = pay_order(order, GOOD, actor=None, idempotency_key="retry")

    order.refresh_from_db()
    assert (payment.status, order.status, order.stock_reserved) == (PaymentStatus.SUCCEEDED, OrderStatus.PAID, True)
    assert stock(mug) == 3
    assert pay_order(order, GOOD, actor=None, idempotency_key="retry") == payment


def test_a_retry_after_the_item_sold_out_is_refused_and_naming_the_order(mug: Variant) -> None:
    with pytest.raises(PaymentDeclined):
        place_order(guest_cart((mug, 2)), checkout(card=DECLINED), user=None, idempotency_key="k")
    order = Order.objects.get()
    Variant.objects.filter(pk=mug.pk).update(stock=1)

    with pytest.raises(OutOfStock) as refusal:
        pay_order(order, GOOD, actor=None, idempotency_key="retry")

    assert refusal.value.fields["order"] == [order.number]
    assert stock(mug) == 1


def test_cancelling_or_expiring_a_declined_order_does_not_give_its_stock_back_twice(mug: Variant) -> None:
    with pytest.raises(PaymentDeclined):
        place_order(guest_cart((mug, 2)), checkout(card=DECLINED), user=None, idempotency_key="k")

    staff = make_user("staff@example.com", is_staff=True)
    order_services.cancel_order(Order.objects.get(), actor=staff)

    assert stock(mug) == 5


def test_the_same_key_returns_the_same_order_and_another_request_with_it_conflicts(mug: Variant) -> None:
    cart = guest_cart((mug, 2))
    first = place_order(cart, checkout(), user=None, idempotency_key="same")

    again = place_order(cart, checkout(), user=None, idempotency_key="same")

    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert stock(mug) == 3
    with pytest.raises(Conflict) as conflict:
        place_order(cart, checkout(email="other@example.com"), user=None, idempotency_key="same")
    assert conflict.value.code == "idempotency_key_reused"
    assert OrderRequest.objects.count() == 1


def test_keys_belong_to_their_shopper(mug: Variant) -> None:
    first = place_order(guest_cart((mug, 1)), checkout(), user=None, idempotency_key="same")
    second = place_order(guest_cart((mug, 1)), checkout(), user=None, idempotency_key="same")
    assert first.pk != second.pk


def test_a_guest_link_opens_only_its_own_order(mug: Variant) -> None:
    order = place_order(guest_cart((mug, 1)), checkout(), user=None, idempotency_key="k")
    token = order_access_token(order)

    assert order_for_token(order.number, token).pk == order.pk
    tampered = token[:-1] + ("1" if token.endswith("0") else "0")
    for number, wrong in ((order.number, tampered), (order.number, ""), ("NOPE", token)):
        with pytest.raises(NotFound):
            order_for_token(number, wrong)


TRANSACTION_CONTROL = frozenset({"BEGIN", "BEGIN IMMEDIATE", "COMMIT"})


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL statements sent, without the BEGIN and COMMIT around each transaction (logged by some backends
    only); savepoints count."""
    return [query["sql"] for query in captured.captured_queries if query["sql"] not in TRANSACTION_CONTROL]


@pytest.mark.django_db(transaction=True)
# Each further item costs two statements (its conditional stock update and its product's stock total); a discount
# code costs three (the code locked, its uses counted, this use recorded).
@pytest.mark.parametrize(
    ("items", "with_code", "budget"), [(1, False, 25), (2, False, 25), (3, False, 25), (1, True, 25), (3, True, 25)]
)
def test_placing_an_order_stays_within_its_sql_budget(items: int, with_code: bool, budget: int) -> None:
    """Measured outside a test transaction, so the statements are those a real checkout sends; the order's
    subscribers (marking it paid, the confirmation email) run later in the worker and are only enqueued here."""
    # A transactional test starts from empty tables, without the migrations' starting rates.
    ShippingMethod.objects.get_or_create(code="standard", defaults={"name": "Standard", "price": Decimal("4.99")})
    variants = [variant_of(make_product(f"Plate {n}", price="30.00", stock=9)) for n in range(items)]
    code = issue_discount_code(kind="fixed", value=Decimal("5")).code if with_code else None
    cart = guest_cart(*((variant, 2) for variant in variants))

    with CaptureQueriesContext(connection) as captured:
        order = place_order(cart, checkout(discount_code=code), user=None, idempotency_key="k")

    sent = statements(captured)
    assert len(sent) <= budget, "\n".join(sent)
    assert order.lines.count() == items
    assert Payment.objects.get(order=order).status == PaymentStatus.SUCCEEDED


def test_a_bad_card_number_is_refused_before_any_order_exists(mug: Variant) -> None:
    typo = replace(GOOD, number="4242 4242 4242 4241")

    with pytest.raises(ValidationFailed) as refusal:
        place_order(guest_cart((mug, 1)), checkout(card=typo), user=None, idempotency_key="k")

    assert "number" in refusal.value.fields
    assert not Order.objects.exists()
    assert stock(mug) == 5


def test_with_stripe_the_order_awaits_the_webhook_with_its_stock_held(
    mug: Variant,
    settings: Settings,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    client: Client,
) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = STUB_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = STUB_WEBHOOK_SECRET
    cart = guest_cart((mug, 2))
    with pytest.raises(ValidationFailed) as card_sent:
        place_order(cart, checkout(), user=None, idempotency_key="k")
    assert "number" in card_sent.value.fields

    with running_stripe_stub():
        order = place_order(cart, checkout(card=None), user=None, idempotency_key="k")

    payment = Payment.objects.get(order=order)
    assert (order.status, payment.status) == (OrderStatus.PENDING_PAYMENT, PaymentStatus.REQUIRES_ACTION)
    assert payment.client_secret
    assert stock(mug) == 3
    succeeded = stripe_event(
        "payment_intent.succeeded",
        {"id": payment.provider_reference, "object": "payment_intent", "amount_received": int(order.total * 100)},
        event_id="evt_paid",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_webhook(client, succeeded).status_code == 200

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert stock(mug) == 3
