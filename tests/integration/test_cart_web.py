"""The storefront cart: add-to-cart on the (cached) product page, the cart page and the header count, with and
without htmx, CSRF enforced, sessions merged on sign-in, and bounded SQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user
from patron.cart.models import Cart, CartLine
from patron.catalog.models import Product, Variant
from patron.pricing.models import ShippingMethod
from tests.factories import make_image, make_product

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def shirt() -> Product:
    product = make_product("Linen Shirt", price="30.00", stock=4, options=[{"size": "S"}, {"size": "M"}])
    make_image(product)
    return product


@pytest.fixture
def mug() -> Product:
    return make_product("Mug", price="12.50", stock=3)


def variant(product: Product, size: str | None = None) -> Variant:
    variants = product.variants.all()
    return next(v for v in variants if size is None or v.options.get("size") == size)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def cart_lines(client: Client) -> dict[int, int]:
    token = client.session.get("cart_token")
    return dict(CartLine.objects.filter(cart__token=token).values_list("variant_id", "quantity"))


def add(client: Client, product: Product, quantity: int = 1, *, htmx: bool = True, **options: str) -> HttpResponse:
    """Post the add-to-cart form as the product page sends it: product, quantity and the picked options."""
    data = {"product_id": product.pk, "quantity": quantity, **options}
    return client.post("/cart/add/", data, **(HTMX if htmx else {}))  # type: ignore[return-value]


def only_line_id(client: Client) -> int:
    return CartLine.objects.get(cart__token=client.session["cart_token"]).pk


# The cached product page --------------------------------------------------------------------------------------


def test_product_page_is_the_same_for_every_visitor_and_loads_the_form_apart(shirt: Product) -> None:
    first, second = Client(), Client()
    add(second, shirt, size="S")
    pages = [first.get(f"/p/{shirt.slug}/"), second.get(f"/p/{shirt.slug}/")]
    assert [page["X-Page-Cache"] for page in pages] == ["miss", "hit"]
    assert pages[0].content == pages[1].content
    html = pages[0].content.decode()
    assert "csrfmiddlewaretoken" not in html and "X-CSRFToken" not in html
    assert f'hx-get="/cart/buy/{shirt.pk}/" hx-trigger="load"' in html
    assert f'<noscript><a class="button button-primary" href="/cart/buy/{shirt.pk}/">' in html
    assert 'hx-get="/cart/count/" hx-trigger="load"' in html


def test_buy_fragment_carries_the_token_and_reads_the_variant_picker(client: Client, shirt: Product) -> None:
    response = client.get(f"/cart/buy/{shirt.pk}/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert csrf_token(html)
    assert 'hx-include="#variant-picker"' in html
    assert f'name="product_id" value="{shirt.pk}"' in html
    assert "no-store" in response["Cache-Control"]


# Adding -------------------------------------------------------------------------------------------------------


def test_adding_with_htmx_answers_with_the_form_and_the_new_count(client: Client, shirt: Product) -> None:
    response = add(client, shirt, 2, size="M")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Added Linen Shirt (quantity 2) to your cart." in html
    assert '<span id="mini-cart-count" hx-swap-oob="innerHTML"><span class="mini-cart__badge">2</span>' in html
    assert cart_lines(client) == {variant(shirt, "M").pk: 2}


def test_adding_without_javascript_redirects_to_the_cart(client: Client, mug: Product) -> None:
    response = add(client, mug, 2, htmx=False)
    assert response.status_code == 302 and response["Location"] == "/cart/"
    html = client.get("/cart/").content.decode()
    assert "Added Mug (quantity 2) to your cart." in html
    assert "Mug" in html and "$25.00" in html


def test_the_no_script_page_offers_every_variant(client: Client, shirt: Product) -> None:
    Variant.objects.filter(pk=variant(shirt, "S").pk).update(stock=0)
    html = client.get(f"/cart/buy/{shirt.pk}/").content.decode()
    assert "<html" in html and csrf_token(html)
    small, medium = variant(shirt, "S"), variant(shirt, "M")
    assert re.search(rf'value="{small.pk}"\s+disabled', html)
    assert re.search(rf'value="{medium.pk}" checked', html)
    response = client.post("/cart/add/", {"product_id": shirt.pk, "variant_id": medium.pk, "quantity": 1})
    assert response.status_code == 302
    assert cart_lines(client) == {medium.pk: 1}


@pytest.mark.parametrize(("htmx", "status"), [(True, 200), (False, 422)])
def test_refusals_are_shown_beside_the_form(client: Client, mug: Product, htmx: bool, status: int) -> None:
    response = add(client, mug, 5, htmx=htmx)
    assert response.status_code == status
    assert "Only 3 left in stock." in response.content.decode()
    assert not CartLine.objects.exists()
    assert not Cart.objects.exists()


def test_an_unavailable_option_combination_is_refused(client: Client, shirt: Product) -> None:
    html = add(client, shirt, size="XXL").content.decode()
    assert "This combination is not available; please choose another." in html


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("two", "Enter a whole quantity."),
        ("-1", "Choose a quantity of at least 1."),
        ("99999999999999999999999", "Enter a smaller quantity."),
    ],
)
def test_nonsense_quantities_are_refused_not_crashed_on(
    client: Client, mug: Product, quantity: str, message: str
) -> None:
    response = client.post("/cart/add/", {"product_id": mug.pk, "quantity": quantity}, **HTMX)
    assert response.status_code == 200
    assert f'<p class="buy-form__message buy-form__message--error" id="buy-message">{message}</p>' in (
        response.content.decode()
    )
    assert not CartLine.objects.exists()


def test_a_blank_quantity_means_one(client: Client, mug: Product) -> None:
    client.post("/cart/add/", {"product_id": mug.pk, "quantity": ""}, **HTMX)
    assert cart_lines(client) == {variant(mug).pk: 1}


def test_unknown_products_are_not_found(client: Client) -> None:
    assert client.get("/cart/buy/424242/").status_code == 404
    assert client.post("/cart/add/", {"product_id": "x"}).status_code == 404


# The cart page ------------------------------------------------------------------------------------------------


def test_cart_page_lists_lines_with_image_options_prices_and_totals(
    client: Client, shirt: Product, mug: Product
) -> None:
    add(client, shirt, 1, size="S")
    add(client, mug, 2)
    response = client.get("/cart/")
    html = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert "Linen Shirt" in html and "Size: S" in html and "$30.00 each" in html
    assert "$12.50 each" in html and "$25.00" in html
    assert re.search(
        r'<img src="([^"]+)" srcset="\1 \d+w" sizes="88px" alt="" width="88" height="88" loading="lazy">', html
    )
    assert '<dd data-total="subtotal">$55.00</dd>' in html
    assert '<dd data-total="shipping">Free</dd>' in html
    assert '<dd data-total="total">$55.00</dd>' in html
    assert '<a class="button button-primary cart__checkout" href="/checkout/">Proceed to checkout</a>' in html


def test_without_any_shipping_method_the_cart_page_still_shows(client: Client, mug: Product) -> None:
    ShippingMethod.objects.update(is_active=False)
    add(client, mug, 1)
    response = client.get("/cart/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Mug" in html and "we do not deliver" in html
    assert 'data-total="total"' not in html


def test_empty_cart_invites_shopping(client: Client) -> None:
    html = client.get("/cart/").content.decode()
    assert "Your cart is empty." in html
    assert not Cart.objects.exists()


def test_stepper_changes_the_quantity_in_place_with_htmx(client: Client, mug: Product) -> None:
    add(client, mug, 1)
    line_id = only_line_id(client)
    response = client.post(f"/cart/lines/{line_id}/", {"quantity": "1", "step": "1"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.startswith('\n<section id="cart"') or html.lstrip().startswith('<section id="cart"')
    assert f'id="quantity-{line_id}" type="number" name="quantity" value="2"' in html
    assert '<dd data-total="subtotal">$25.00</dd>' in html
    assert '<span class="mini-cart__badge">2</span>' in html
    assert '<p id="cart-status" hx-swap-oob="innerHTML">Mug: quantity 2.</p>' in html

    typed = client.post(f"/cart/lines/{line_id}/", {"quantity": "3"}, **HTMX).content.decode()
    assert '<dd data-total="subtotal">$37.50</dd>' in typed
    # At the stock limit the + button is disabled.
    assert re.search(rf'id="increase-{line_id}" type="submit" name="step" value="1" disabled', typed)

    too_many = client.post(f"/cart/lines/{line_id}/", {"quantity": "3", "step": "1"}, **HTMX).content.decode()
    assert f'<p class="cart-line__problem" id="line-error-{line_id}">Only 3 left in stock.</p>' in too_many
    assert cart_lines(client) == {variant(mug).pk: 3}


def test_plain_forms_change_and_remove_lines_and_come_back_to_the_cart(client: Client, mug: Product) -> None:
    add(client, mug, 2)
    line_id = only_line_id(client)
    response = client.post(f"/cart/lines/{line_id}/", {"quantity": "2", "step": "-1"})
    assert response.status_code == 302 and response["Location"] == "/cart/"
    assert cart_lines(client) == {variant(mug).pk: 1}
    refused = client.post(f"/cart/lines/{line_id}/", {"quantity": "9"}, follow=True).content.decode()
    assert "Only 3 left in stock." in refused
    response = client.post(f"/cart/lines/{line_id}/remove/")
    assert response.status_code == 302
    assert cart_lines(client) == {}
    assert "The item was removed from your cart." in client.get("/cart/").content.decode()


def test_removing_with_htmx_updates_cart_and_count(client: Client, mug: Product, shirt: Product) -> None:
    add(client, mug, 1)
    add(client, shirt, 1, size="S")
    mug_line = CartLine.objects.get(variant=variant(mug)).pk
    html = client.post(f"/cart/lines/{mug_line}/remove/", **HTMX).content.decode()
    assert "Mug" not in html.split('id="mini-cart-count"')[0]
    assert "Linen Shirt" in html
    assert '<span class="mini-cart__badge">1</span>' in html
    # Stepping below one removes the line too.
    shirt_line = only_line_id(client)
    html = client.post(f"/cart/lines/{shirt_line}/", {"quantity": "1", "step": "-1"}, **HTMX).content.decode()
    assert "Your cart is empty." in html
    assert '<span id="mini-cart-count" hx-swap-oob="innerHTML"></span>' in html.replace("\n", "")


def test_another_visitors_lines_are_not_found(client: Client, mug: Product) -> None:
    add(client, mug, 1)
    line_id = only_line_id(client)
    stranger = Client()
    add(stranger, mug, 1)
    assert stranger.post(f"/cart/lines/{line_id}/", {"quantity": "3"}).status_code == 404
    assert stranger.post(f"/cart/lines/{line_id}/remove/").status_code == 404
    assert Client().post(f"/cart/lines/{line_id}/remove/").status_code == 404
    assert cart_lines(client) == {variant(mug).pk: 1}


def test_cart_pages_only_answer_the_right_methods(client: Client) -> None:
    assert client.get("/cart/add/").status_code == 405
    assert client.get("/cart/lines/1/").status_code == 405
    assert client.post("/cart/").status_code == 405


# CSRF ---------------------------------------------------------------------------------------------------------


def test_csrf_is_enforced_and_the_fragment_token_works(mug: Product) -> None:
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post("/cart/add/", {"product_id": mug.pk, "quantity": 1}, **HTMX)
    assert refused.status_code == 403
    token = csrf_token(browser.get(f"/cart/buy/{mug.pk}/", **HTMX).content.decode())
    accepted = browser.post("/cart/add/", {"product_id": mug.pk, "quantity": 1, "csrfmiddlewaretoken": token}, **HTMX)
    assert accepted.status_code == 200
    assert cart_lines(browser) == {variant(mug).pk: 1}

    line_id = only_line_id(browser)
    assert browser.post(f"/cart/lines/{line_id}/remove/").status_code == 403
    page_token = csrf_token(browser.get("/cart/").content.decode())
    assert browser.post(f"/cart/lines/{line_id}/remove/", {"csrfmiddlewaretoken": page_token}).status_code == 302


# Header count -------------------------------------------------------------------------------------------------


def test_header_count_fragment(client: Client, mug: Product) -> None:
    empty = client.get("/cart/count/", **HTMX)
    assert empty.status_code == 200 and empty.content.decode().strip() == ""
    add(client, mug, 3)
    html = client.get("/cart/count/", **HTMX).content.decode()
    assert '<span class="mini-cart__badge">3</span><span class="visually-hidden"> items in your cart</span>' in html


# Signing in ---------------------------------------------------------------------------------------------------


@pytest.fixture
def customer() -> User:
    return make_user("grace@example.com")


def test_signing_in_merges_the_guest_cart(client: Client, customer: User, mug: Product, shirt: Product) -> None:
    own = Cart.objects.create(user=customer)
    CartLine.objects.create(cart=own, variant=variant(mug), quantity=2)
    add(client, mug, 3)
    add(client, shirt, 1, size="M")

    response = client.post("/account/login/", {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 302

    assert dict(own.lines.values_list("variant_id", "quantity")) == {variant(mug).pk: 3, variant(shirt, "M").pk: 1}
    assert Cart.objects.count() == 1
    assert "cart_token" not in client.session
    assert '<span class="mini-cart__badge">4</span>' in client.get("/cart/count/").content.decode()


def test_a_cart_filled_before_signing_up_joins_the_new_account(client: Client, mug: Product) -> None:
    add(client, mug, 2)
    response = client.post(
        "/account/register/",
        {"name": "Ada", "email": "ada@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    html = client.get("/cart/").content.decode()
    assert "Mug" in html
    assert Cart.objects.get().user is not None


# Query counts -------------------------------------------------------------------------------------------------


def test_cart_page_and_changes_run_a_bounded_number_of_queries(
    client: Client, customer: User, django_assert_max_num_queries: Any
) -> None:
    for number in range(20):
        product = make_product(f"Thing {number}", price="2.00", stock=5)
        make_image(product)
        add(client, product, 1)
    line_id = CartLine.objects.first().pk  # type: ignore[union-attr]
    with django_assert_max_num_queries(10):
        assert client.get("/cart/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.post(f"/cart/lines/{line_id}/", {"quantity": "2"}, **HTMX).status_code == 200
    with django_assert_max_num_queries(3):
        assert client.get("/cart/count/", **HTMX).status_code == 200

    client.force_login(customer)
    client.get("/cart/")  # the guest cart joins the account once
    with django_assert_max_num_queries(10):
        html = client.get("/cart/").content.decode()
    assert html.count('class="cart-line"') == 20
