"""Server-side events: the cart (web and API), the checkout and the placed order are recorded with the shopper's
account and/or visitor id; with GA4 on, htmx cart changes carry their GA4 event in the HX-Trigger header."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django import Settings

from patron.accounts.models import User
from patron.accounts.testing import bearer
from patron.analytics import buffer, services
from patron.analytics.models import Event, EventName
from patron.analytics.visitor import COOKIE_NAME
from patron.catalog.models import Product
from patron.orders.models import Order
from tests.factories import make_product

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
ADDRESS = {
    "full_name": "Grace Hopper",
    "line1": "1 Harbour Street",
    "line2": "",
    "city": "London",
    "region": "",
    "postal_code": "N1 1AA",
    "country": "GB",
    "phone": "",
}
GOOD_CARD = {"card_number": "4242 4242 4242 4242", "card_exp": "12 / 34", "card_cvc": "123"}
Capture = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(autouse=True)
def empty_buffer(settings: Settings, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path
    buffer.discard()
    yield
    buffer.discard()


@pytest.fixture
def shirt() -> Product:
    return make_product("Linen Shirt", brand="Acme", price="30.00", stock=5, options=[{"size": "S"}, {"size": "M"}])


def events(name: str) -> list[Event]:
    buffer.flush()
    return list(Event.objects.filter(name=name).order_by("pk"))


def visitor_of(client: Client) -> str:
    """The visitor id behind the client's signed cookie (as the events store it)."""
    return client.cookies[COOKIE_NAME].value.split(":")[0]


def add(client: Client, product: Product, size: str = "M", quantity: int = 1) -> Any:
    return client.post("/cart/add/", {"product_id": product.pk, "quantity": quantity, "size": size}, **HTMX)


def trigger(response: Any) -> dict[str, Any]:
    return dict(json.loads(response["HX-Trigger"]))


# The web cart -----------------------------------------------------------------------------------------------------


def test_adding_and_removing_on_the_web_is_recorded_for_the_visitor(client: Client, shirt: Product) -> None:
    assert COOKIE_NAME not in client.get("/cart/").cookies  # a page that records nothing hands out no id
    medium = shirt.variants.get(options__size="M")

    response = add(client, shirt, quantity=2)
    assert response.status_code == 200
    assert COOKIE_NAME in response.cookies
    visitor = visitor_of(client)
    (added,) = events(EventName.CART_ITEM_ADDED)
    assert added.visitor_id == visitor
    assert added.user_id is None
    assert added.product_id == shirt.pk
    assert added.payload["variant_id"] == medium.pk
    assert added.payload["quantity"] == 2
    assert added.payload["price"] == "30.00"

    assert client.post(f"/cart/lines/{_only_line_id()}/remove/", **HTMX).status_code == 200
    (removed,) = events(EventName.CART_ITEM_REMOVED)
    assert (removed.visitor_id, removed.product_id, removed.payload["quantity"]) == (visitor, shirt.pk, 2)
    # The add started the session (its key is known once that response is out); the removal ran in it.
    assert removed.session_key == client.session.session_key
    assert removed.payload["cart_id"] == added.payload["cart_id"]


def _only_line_id() -> int:
    from patron.cart.models import CartLine

    return CartLine.objects.get().pk


def test_a_refused_add_or_a_line_of_another_cart_records_nothing(client: Client, shirt: Product) -> None:
    assert "Only 5 left" in add(client, shirt, quantity=9).content.decode()
    other = Client()
    add(other, shirt)
    assert client.post(f"/cart/lines/{_only_line_id()}/remove/", **HTMX).status_code == 404
    assert events(EventName.CART_ITEM_REMOVED) == []
    assert len(events(EventName.CART_ITEM_ADDED)) == 1


def test_a_signed_in_shopper_is_recorded_with_both_ids(client: Client, customer: User, shirt: Product) -> None:
    add(client, shirt, "S")
    visitor = visitor_of(client)
    client.force_login(customer)
    add(client, shirt, "M")
    as_guest, signed_in = events(EventName.CART_ITEM_ADDED)
    assert (as_guest.user_id, as_guest.visitor_id) == (None, visitor)
    assert (signed_in.user_id, signed_in.visitor_id) == (customer.pk, visitor)


def test_without_ga4_no_trigger_header_is_sent(client: Client, shirt: Product) -> None:
    response = add(client, shirt)
    assert "HX-Trigger" not in response


def test_with_ga4_an_htmx_add_and_remove_carry_their_ga4_event(
    client: Client, shirt: Product, settings: Settings
) -> None:
    settings.GA4_MEASUREMENT_ID = "G-TEST12345"
    medium = shirt.variants.get(options__size="M")
    added = trigger(add(client, shirt, quantity=2))["patron:ga4"]["events"]
    assert added == [
        {
            "event": "add_to_cart",
            "params": {
                "currency": "USD",
                "value": 60.0,
                "items": [
                    {
                        "item_id": str(shirt.pk),
                        "item_name": "Linen Shirt",
                        "price": 30.0,
                        "item_brand": "Acme",
                        "item_variant": medium.sku,
                        "quantity": 2,
                    }
                ],
            },
        }
    ]
    removed = trigger(client.post(f"/cart/lines/{_only_line_id()}/remove/", **HTMX))["patron:ga4"]["events"]
    assert removed[0]["event"] == "remove_from_cart"
    assert removed[0]["params"]["items"][0]["quantity"] == 2
    # Without htmx the add redirects to the cart page: no header to carry the event.
    plain = client.post("/cart/add/", {"product_id": shirt.pk, "quantity": 1, "size": "S"})
    assert plain.status_code == 302 and "HX-Trigger" not in plain


# The cart API -----------------------------------------------------------------------------------------------------


def test_the_cart_api_records_the_customer(client: Client, customer: User, shirt: Product) -> None:
    medium = shirt.variants.get(options__size="M")
    auth = bearer(customer)
    response = client.post(
        "/api/cart/", {"variant_id": medium.pk, "quantity": 3}, content_type="application/json", **auth
    )
    assert response.status_code == 201
    line_id = response.json()["lines"][0]["id"]
    assert client.delete(f"/api/cart/{line_id}", **auth).status_code == 200
    (added,) = events(EventName.CART_ITEM_ADDED)
    (removed,) = events(EventName.CART_ITEM_REMOVED)
    assert added.user_id == removed.user_id == customer.pk
    assert (added.payload["quantity"], removed.payload["quantity"]) == (3, 3)


# Checkout and the order -------------------------------------------------------------------------------------------


def _form_key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_a_guest_checkout_records_its_start_and_the_order_for_the_same_visitor(
    client: Client, shirt: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    add(client, shirt, quantity=2)
    visitor = visitor_of(client)
    page = client.get("/checkout/")
    (started,) = events(EventName.CHECKOUT_STARTED)
    assert started.visitor_id == visitor
    assert started.payload["item_count"] == 2
    assert started.payload["items"] == [
        {"product_id": shirt.pk, "variant_id": shirt.variants.get(options__size="M").pk, "quantity": 2}
    ]

    data = {"email": "grace@example.com", **ADDRESS, "shipping_method": "standard", **GOOD_CARD}
    data["idempotency_key"] = _form_key(page.content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/checkout/", data).status_code == 302
    order = Order.objects.get()
    (placed,) = events(EventName.ORDER_PLACED)
    assert placed.visitor_id == visitor
    assert placed.session_key == started.session_key
    assert placed.user_id is None
    assert placed.created_at == order.placed_at
    assert placed.payload["order_id"] == order.pk
    assert placed.payload["total"] == str(order.total)
    assert placed.payload["items"][0]["quantity"] == 2

    # The subscriber may be retried: the order is still recorded once.
    assert services.record_order_placed(order.pk) is False
    assert len(events(EventName.ORDER_PLACED)) == 1


def test_a_customers_order_is_recorded_with_their_account(
    client: Client, customer: User, shirt: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    client.force_login(customer)
    add(client, shirt)
    page = client.get("/checkout/")
    data = {"email": customer.email, "saved_address": "new", **ADDRESS, "shipping_method": "standard", **GOOD_CARD}
    data["idempotency_key"] = _form_key(page.content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/checkout/", data).status_code == 302
    (placed,) = events(EventName.ORDER_PLACED)
    assert placed.user_id == customer.pk
    assert placed.visitor_id == visitor_of(client)


def test_a_get_without_a_cookie_records_with_a_throwaway_id_and_hands_out_none(client: Client, shirt: Product) -> None:
    """A page's fragments load beside its first report: only unsafe requests name a new visitor."""
    add(client, shirt)
    del client.cookies[COOKIE_NAME]
    page = client.get("/checkout/")
    assert page.status_code == 200
    assert COOKIE_NAME not in page.cookies
    (added,) = events(EventName.CART_ITEM_ADDED)
    (started,) = events(EventName.CHECKOUT_STARTED)
    assert started.visitor_id and started.visitor_id != added.visitor_id
    assert COOKIE_NAME in add(client, shirt, "S").cookies


def test_an_order_without_a_checkout_page_is_recorded_without_a_visitor(
    client: Client, customer: User, shirt: Product, immediate_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    auth = bearer(customer)
    medium = shirt.variants.get(options__size="M")
    client.post("/api/cart/", {"variant_id": medium.pk}, content_type="application/json", **auth)
    body = {"email": customer.email, "shipping_address": ADDRESS, "shipping_method": "standard", "card": {
        "number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        placed = client.post(
            "/api/orders", body, content_type="application/json", headers={"Idempotency-Key": "k1"}, **auth
        )
    assert placed.status_code == 201, placed.content
    (event,) = events(EventName.ORDER_PLACED)
    assert event.user_id == customer.pk
    assert event.visitor_id == ""
