"""Carts in the back-office: a read-only list and detail, totals as the cart service computes them, bounded queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.cart import services
from patron.cart.models import Cart, CartLine
from patron.catalog.models import Variant
from tests.factories import make_product

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/cart/cart/"


@pytest.fixture
def staff() -> User:
    return make_user("staff@example.com", name="Sam Staff", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def mug() -> Variant:
    return make_product("Enamel Mug", price="19.99", stock=10).variants.get()


@pytest.fixture
def lamp() -> Variant:
    return make_product("Desk Lamp", price="45.50", stock=5).variants.get()


def cart_of(user: User | None) -> Cart:
    cart = services.get_cart(user=user, token=None, create=True)
    assert cart is not None
    return cart


def rows(response: Any) -> dict[int, Cart]:
    return {cart.pk: cart for cart in response.context["cl"].result_list}


def test_the_list_shows_owner_items_and_the_services_subtotal(
    staff_client: Client, mug: Variant, lamp: Variant
) -> None:
    customer = make_user("ada@example.com")
    mine = cart_of(customer)
    services.add_item(mine, mug.pk, 3)
    services.add_item(mine, lamp.pk, 1)
    # A line that ran out stays in the cart but is left out of the subtotal, as the shopper's cart page does.
    services.add_item(mine, (gone := make_product("Teapot", price="30.00", stock=2).variants.get()).pk, 1)
    Variant.objects.filter(pk=gone.pk).update(stock=0)
    guest = cart_of(None)
    services.add_item(guest, lamp.pk, 2)
    empty = cart_of(None)

    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    listed = rows(response)
    assert set(listed) == {mine.pk, guest.pk, empty.pk}
    for cart in (mine, guest, empty):
        view = services.view_cart(cart)
        assert view.quote is not None
        assert listed[cart.pk].item_count == view.item_count  # type: ignore[attr-defined]
        assert listed[cart.pk].subtotal == view.quote.subtotal  # type: ignore[attr-defined]
    assert listed[mine.pk].subtotal == Decimal("105.47")  # type: ignore[attr-defined]  # 3 x 19.99 + 45.50
    assert listed[mine.pk].item_count == 5  # type: ignore[attr-defined]
    assert listed[empty.pk].subtotal == Decimal("0.00")  # type: ignore[attr-defined]

    page = response.content.decode()
    assert "ada@example.com" in page
    assert "105.47" in page and "91.00" in page
    assert page.count('<td class="field-owner">guest</td>') == 2


def test_filters_and_search_by_email(staff_client: Client, mug: Variant) -> None:
    ada, grace = cart_of(make_user("ada@example.com")), cart_of(make_user("grace@example.com"))
    services.add_item(ada, mug.pk, 1)
    guest = cart_of(None)
    services.add_item(guest, mug.pk, 1)
    Cart.objects.filter(pk=grace.pk).update(updated_at=timezone.now() - timedelta(days=40))

    assert set(rows(staff_client.get(CHANGELIST, {"q": "ada@"}))) == {ada.pk}
    assert set(rows(staff_client.get(CHANGELIST, {"owner": "guest"}))) == {guest.pk}
    assert set(rows(staff_client.get(CHANGELIST, {"owner": "customer"}))) == {ada.pk, grace.pk}
    assert set(rows(staff_client.get(CHANGELIST, {"activity": "7d"}))) == {ada.pk, guest.pk}
    assert set(rows(staff_client.get(CHANGELIST, {"activity": "idle"}))) == {grace.pk}
    assert set(rows(staff_client.get(CHANGELIST, {"contents": "empty"}))) == {grace.pk}
    assert set(rows(staff_client.get(CHANGELIST, {"contents": "items"}))) == {ada.pk, guest.pk}


def test_the_detail_page_lists_the_lines_read_only(staff_client: Client, mug: Variant, lamp: Variant) -> None:
    cart = cart_of(make_user("ada@example.com"))
    services.add_item(cart, mug.pk, 3)
    services.add_item(cart, lamp.pk, 1)
    Variant.objects.filter(pk=lamp.pk).update(stock=0)

    response = staff_client.get(f"{CHANGELIST}{cart.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enamel Mug" in page and "Desk Lamp" in page and mug.sku in page
    assert "59.97" in page  # the mug's line total; the subtotal leaves the sold-out lamp out
    assert "Desk Lamp: This item is out of stock." in page
    # No form fields to edit, no add-another row, no delete checkbox, no save button.
    assert 'name="lines-0-quantity"' not in page
    assert "lines-0-DELETE" not in page
    assert 'name="_save"' not in page


def test_staff_cannot_add_change_or_delete_carts(staff_client: Client, mug: Variant) -> None:
    cart = cart_of(make_user("ada@example.com"))
    line = services.add_item(cart, mug.pk, 2)
    touched = Cart.objects.get(pk=cart.pk).updated_at

    changed = staff_client.post(
        f"{CHANGELIST}{cart.pk}/change/",
        {
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-id": str(line.pk),
            "lines-0-cart": str(cart.pk),
            "lines-0-quantity": "9",
            "lines-0-DELETE": "on",
            "_save": "Save",
        },
    )
    assert changed.status_code == 403
    assert CartLine.objects.get(pk=line.pk).quantity == 2
    assert Cart.objects.get(pk=cart.pk).updated_at == touched

    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    assert staff_client.post(f"{CHANGELIST}{cart.pk}/delete/", {"post": "yes"}).status_code == 403
    staff_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [cart.pk], "post": "yes"})
    assert CartLine.objects.filter(pk=line.pk).exists()


def test_visitors_and_shoppers_are_sent_to_the_staff_login(client: Client) -> None:
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    client.force_login(make_user("shopper@example.com"))
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_list_runs_a_bounded_number_of_queries(
    staff_client: Client, mug: Variant, lamp: Variant, django_assert_max_num_queries: Any
) -> None:
    for number in range(20):
        cart = cart_of(make_user(f"shopper{number}@example.com") if number % 2 else None)
        services.add_item(cart, mug.pk, 1 + number % 3)
        if number % 4 == 0:
            services.add_item(cart, lamp.pk, 1)
    staff_client.get(CHANGELIST)  # sessions and content types warm up

    with django_assert_max_num_queries(5):
        response = staff_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 20
    with django_assert_max_num_queries(5):
        assert len(rows(staff_client.get(CHANGELIST, {"owner": "customer", "q": "shopper"}))) == 10
