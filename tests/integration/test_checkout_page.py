"""The checkout page: guests and customers, saved addresses, totals updated in place, inline errors with the input
kept, CSRF, one order per submitted form, a declined card and its retry, the guest order pages, bounded SQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from patron.accounts.models import Address
from patron.accounts.testing import make_user
from patron.catalog.models import Product, Variant
from patron.orders.models import Order, OrderStatus
from patron.orders.placement import order_access_token
from tests.factories import make_product
from tests.order_factories import make_order

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
GOOD_CARD = {"card_number": "4242 4242 4242 4242", "card_exp": "12 / 34", "card_cvc": "123"}
DECLINED_CARD = {**GOOD_CARD, "card_number": "4000 0000 0000 0002"}
ADDRESS = {
    "full_name": "Grace Hopper",
    "line1": "1 Harbour Street",
    "line2": "",
    "city": "London",
    "region": "",
    "postal_code": "N1 1AA",
    "country": "GB",
    "phone": "+44 20 7946 0000",
}
Capture = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def mug() -> Product:
    return make_product("Mug", price="12.50", stock=3)


def variant_of(product: Product) -> Variant:
    return product.variants.get()


def fill_cart(client: Client, product: Product, quantity: int = 1) -> None:
    response = client.post("/cart/add/", {"product_id": product.pk, "quantity": quantity})
    assert response.status_code == 302


def form_key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match, "no idempotency key in the form"
    return match.group(1)


def checkout_form(client: Client, **overrides: str) -> dict[str, str]:
    page = client.get("/checkout/")
    assert page.status_code == 200
    data = {"email": "grace@example.com", **ADDRESS, "shipping_method": "standard", **GOOD_CARD}
    data["idempotency_key"] = form_key(page.content.decode())
    data.update(overrides)
    return data


def place(client: Client, data: dict[str, str], capture: Capture) -> HttpResponse:
    with capture(execute=True):
        return client.post("/checkout/", data)  # type: ignore[return-value]


# The page -----------------------------------------------------------------------------------------------------


def test_guest_page_has_the_right_fields_and_totals(client: Client, mug: Product) -> None:
    fill_cart(client, mug, 2)
    response = client.get("/checkout/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    for name, autocomplete in [
        ("email", "email"),
        ("full_name", "name"),
        ("line1", "address-line1"),
        ("line2", "address-line2"),
        ("city", "address-level2"),
        ("region", "address-level1"),
        ("postal_code", "postal-code"),
        ("country", "country"),
        ("phone", "tel"),
        ("card_number", "cc-number"),
        ("card_exp", "cc-exp"),
        ("card_cvc", "cc-csc"),
    ]:
        tag = re.search(rf'<input id="id_{name}"[^>]*>', html, re.S)
        assert tag, name
        assert f'autocomplete="{autocomplete}"' in tag.group(0), name
    assert re.search(r'<input id="id_email"[^>]*type="email"', html, re.S)
    assert re.search(r'<input id="id_phone"[^>]*type="tel"', html, re.S)
    for name in ("card_number", "card_exp", "card_cvc"):
        assert re.search(rf'<input id="id_{name}"[^>]*inputmode="numeric"', html, re.S), name
    assert 'value="standard" checked' in html and "Express delivery" in html and "3\N{EN DASH}5 business days" in html
    assert '<dd data-total="subtotal">$25.00</dd>' in html
    assert '<dd data-total="shipping">$4.99</dd>' in html
    assert '<dd data-total="total">$29.99</dd>' in html
    assert "js.stripe.com" not in html


def test_an_empty_cart_goes_back_to_the_cart(client: Client) -> None:
    response = client.get("/checkout/")
    assert response.status_code == 302 and response["Location"] == "/cart/"


def test_customer_gets_email_and_saved_addresses(client: Client, mug: Product) -> None:
    user = make_user("ada@example.com")
    home = Address.objects.create(user=user, label="Home", is_default=True, **{**ADDRESS, "country": "DE"})
    client.force_login(user)
    fill_cart(client, mug)
    html = client.get("/checkout/").content.decode()
    assert re.search(r'<input id="id_email"[^>]*value="ada@example.com"', html, re.S)
    assert f'name="saved_address" value="{home.pk}" checked' in html
    assert 'id="address-new" name="saved_address" value="new">' in html
    # Priced for the chosen address: German VAT on goods and shipping (12.50 + 4.99) * 0.19 = 3.32.
    assert '<dd data-total="tax">$3.32</dd>' in html


def test_customer_places_an_order_to_a_saved_address(
    client: Client, mug: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    user = make_user("ada@example.com")
    home = Address.objects.create(user=user, is_default=True, **ADDRESS)
    client.force_login(user)
    fill_cart(client, mug)
    data = checkout_form(client, saved_address=str(home.pk), full_name="", line1="", city="", postal_code="")
    response = place(client, data, django_capture_on_commit_callbacks)
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"].startswith(f"/orders/{order.number}/confirmation/")
    assert order.user == user and order.status == OrderStatus.PAID
    assert order.shipping_address["line1"] == "1 Harbour Street"


def test_totals_update_in_place_for_address_method_and_code(client: Client, mug: Product) -> None:
    fill_cart(client, mug, 2)
    data = {**checkout_form(client), "shipping_method": "express"}
    response = client.post("/checkout/totals/", data, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="checkout-summary"')
    # UK VAT covers shipping: (25.00 + 14.99) * 0.20 = 8.00.
    assert '<dd data-total="shipping">$14.99</dd>' in html
    assert '<dd data-total="tax">$8.00</dd>' in html
    assert '<dd data-total="total">$47.99</dd>' in html
    assert 'id="shipping-methods"' in html and 'hx-swap-oob="true"' in html

    refused = client.post("/checkout/totals/", {**data, "discount_code": "NOPE"}, **HTMX).content.decode()
    assert re.search(r'id="id_discount_code_errors"><li>[^<]+</li>', refused)
    assert 'value="NOPE"' in refused
    assert '<dd data-total="total">$47.99</dd>' in refused


def test_errors_show_beside_their_fields_with_the_input_kept(client: Client, mug: Product) -> None:
    fill_cart(client, mug)
    data = checkout_form(client, email="not-an-email", city="")
    response = client.post("/checkout/", data)
    html = response.content.decode()
    assert response.status_code == 422
    assert not Order.objects.exists()
    assert re.search(r'<input id="id_email"[^>]*value="not-an-email"[^>]*aria-invalid="true"', html, re.S)
    assert 'id="id_email_errors"' in html and 'id="id_city_errors"' in html
    assert re.search(r'<input id="id_line1"[^>]*value="1 Harbour Street"', html, re.S)
    # A new form, a new key: the corrected resubmission is a new attempt.
    assert form_key(html) != data["idempotency_key"]


def test_card_errors_are_inline(client: Client, mug: Product) -> None:
    fill_cart(client, mug)
    html = client.post("/checkout/", checkout_form(client, card_number="4242 4242 4242 4241")).content.decode()
    assert 'id="id_card_number_errors"' in html and "card number is not valid" in html
    html = client.post("/checkout/", checkout_form(client, card_exp="soon")).content.decode()
    assert 'id="id_card_exp_errors"' in html and "MM / YY" in html
    assert not Order.objects.exists()


def test_csrf_is_enforced(mug: Product) -> None:
    client = Client(enforce_csrf_checks=True)
    fill_cart_response = client.get(f"/p/{mug.slug}/")
    assert fill_cart_response.status_code == 200
    response = client.post("/checkout/", {"email": "grace@example.com", **ADDRESS, **GOOD_CARD})
    assert response.status_code == 403
    assert client.post("/checkout/totals/", {"country": "GB"}).status_code == 403


# Placing, paying, confirmation ------------------------------------------------------------------------------


def test_guest_checkout_confirmation_and_order_page(
    client: Client, mug: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    fill_cart(client, mug, 2)
    response = place(client, checkout_form(client), django_capture_on_commit_callbacks)
    order = Order.objects.get()
    token = order_access_token(order)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.number}/confirmation/?token={token}"
    assert order.status == OrderStatus.PAID and order.email == "grace@example.com"
    assert order.total == order.subtotal + order.shipping + order.tax
    variant = variant_of(mug)
    variant.refresh_from_db()
    assert variant.stock == 1
    assert client.get("/cart/").content.decode().count("cart-line") == 0

    confirmation = client.get(response["Location"]).content.decode()
    assert "Thank you for your order" in confirmation and order.number in confirmation
    assert f"/orders/{order.number}/?token={token}" in confirmation
    page = client.get(f"/orders/{order.number}/?token={token}").content.decode()
    assert "Paid" in page and "Mug" in page
    assert f'hx-get="/orders/{order.number}/timeline/?token={token}"' in page
    fragment = client.get(f"/orders/{order.number}/timeline/?token={token}")
    assert fragment.status_code == 200 and 'id="order-timeline"' in fragment.content.decode()


def test_a_wrong_token_is_not_found(client: Client, mug: Product, django_capture_on_commit_callbacks: Capture) -> None:
    fill_cart(client, mug)
    place(client, checkout_form(client), django_capture_on_commit_callbacks)
    order = Order.objects.get()
    for url in ("/orders/{}/", "/orders/{}/timeline/", "/orders/{}/confirmation/", "/checkout/pay/{}/"):
        assert client.get(url.format(order.number) + "?token=forged").status_code == 404
        assert client.get(url.format(order.number)).status_code == 404


def test_a_double_submit_places_one_order(
    client: Client, mug: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    fill_cart(client, mug)
    data = checkout_form(client)
    first = place(client, data, django_capture_on_commit_callbacks)
    second = place(client, data, django_capture_on_commit_callbacks)
    order = Order.objects.get()
    assert first["Location"] == second["Location"]
    assert order.payments.count() == 1
    variant = variant_of(mug)
    variant.refresh_from_db()
    assert variant.stock == 2


def test_declined_card_keeps_the_order_and_a_retry_pays_it(
    client: Client, mug: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    fill_cart(client, mug, 3)
    response = place(client, checkout_form(client, **DECLINED_CARD), django_capture_on_commit_callbacks)
    order = Order.objects.get()
    token = order_access_token(order)
    assert response.status_code == 302
    assert response["Location"] == f"/checkout/pay/{order.number}/?token={token}"
    assert order.status == OrderStatus.PENDING_PAYMENT
    variant = variant_of(mug)
    variant.refresh_from_db()
    assert variant.stock == 3  # given back at once

    pay_page = client.get(response["Location"])
    html = pay_page.content.decode()
    assert "Your card was declined" in html and order.number in html
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(response["Location"], {**DECLINED_CARD, "idempotency_key": form_key(html)})
    assert again.status_code == 402 and "declined" in again.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(response["Location"], {**GOOD_CARD, "idempotency_key": form_key(again.content.decode())})
    assert paid.status_code == 302 and paid["Location"] == f"/orders/{order.number}/confirmation/?token={token}"
    order.refresh_from_db()
    variant.refresh_from_db()
    assert order.status == OrderStatus.PAID and variant.stock == 0
    # A paid order's pay link leads to its confirmation.
    assert client.get(response["Location"])["Location"] == paid["Location"]


def test_a_sold_out_item_is_refused_with_a_clear_message(
    client: Client, mug: Product, django_capture_on_commit_callbacks: Capture
) -> None:
    fill_cart(client, mug, 2)
    data = checkout_form(client)
    Variant.objects.filter(product=mug).update(stock=0)
    response = place(client, data, django_capture_on_commit_callbacks)
    html = response.content.decode()
    assert response.status_code == 409
    assert "out of stock" in html and 'role="alert"' in html
    assert not Order.objects.exists()


def test_stripe_loads_its_script_only_on_the_pay_step(client: Client, mug: Product, settings: Any) -> None:
    fill_cart(client, mug)
    assert "js.stripe.com" not in client.get("/checkout/").content.decode()
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_patron"
    html = client.get("/checkout/").content.decode()
    assert "js.stripe.com" not in html and 'id="id_card_number"' not in html
    assert "Continue to payment" in html


# SQL ----------------------------------------------------------------------------------------------------------


def test_the_page_runs_a_bounded_number_of_queries(
    client: Client, django_assert_max_num_queries: Callable[[int], AbstractContextManager[Any]]
) -> None:
    products = [make_product(f"Item {number}", price="5.00", stock=9) for number in range(6)]
    user = make_user("ada@example.com")
    for _ in range(3):
        Address.objects.create(user=user, **ADDRESS)
    client.force_login(user)
    for product in products:
        fill_cart(client, product)
    # One of them, without Redis, stores the checkout start with the cart's events (see analytics.buffer).
    with django_assert_max_num_queries(15):
        assert client.get("/checkout/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.post("/checkout/totals/", {"country": "DE", "shipping_method": "express"}).status_code == 200


def test_stripe_pay_step_mounts_the_payment_element(client: Client, mug: Product, settings: Any) -> None:
    order = make_order([(variant_of(mug), 1)])
    url = f"/checkout/pay/{order.number}/?token={order_access_token(order)}"
    html = client.get(url).content.decode()
    assert "js.stripe.com" not in html and 'id="id_card_number"' in html
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_patron"
    html = client.get(url).content.decode()
    assert '<script src="https://js.stripe.com/v3/"></script>' in html
    assert 'id="payment-element"' in html and 'data-publishable-key="pk_test_patron"' in html
    assert f"/orders/{order.number}/confirmation/?token=" in html
    assert 'id="id_card_number"' not in html


def test_the_guest_order_pages_run_a_bounded_number_of_queries(
    client: Client, django_assert_max_num_queries: Callable[[int], AbstractContextManager[Any]]
) -> None:
    products = [make_product(f"Item {number}", price="5.00", stock=9) for number in range(6)]
    order = make_order([(variant_of(product), 1) for product in products])
    token = order_access_token(order)
    for url in ("/orders/{}/", "/orders/{}/timeline/", "/orders/{}/confirmation/"):
        with django_assert_max_num_queries(10):
            assert client.get(url.format(order.number) + f"?token={token}").status_code == 200
