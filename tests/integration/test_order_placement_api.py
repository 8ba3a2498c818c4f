"""POST /api/orders, POST /api/orders/{id}/pay and GET /api/orders/by-number/{number}: the checkout over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patron.accounts.testing import bearer, make_user
from patron.catalog.models import Variant
from patron.orders.models import Order, OrderStatus
from patron.pricing.models import ShippingMethod
from tests.factories import make_product
from tests.integration.test_order_placement import statements

pytestmark = pytest.mark.django_db

GOOD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
DECLINED = {**GOOD, "number": "4000000000000002"}
ADDRESS = {
    "full_name": "Grace Hopper",
    "line1": "1 Harbour St",
    "city": "New York",
    "region": "NY",
    "postal_code": "10001",
    "country": "US",
}


def order_body(**changes: Any) -> dict[str, Any]:
    return {"email": "grace@example.com", "shipping_address": ADDRESS, "card": GOOD, **changes}


def add_to_cart(client: Client, variant: Variant, quantity: int = 1, **headers: Any) -> str:
    response = client.post(
        "/api/cart/", {"variant_id": variant.pk, "quantity": quantity}, content_type="application/json", **headers
    )
    assert response.status_code == 201, response.content
    return str(response.json()["token"])


def place(client: Client, key: str, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(
        "/api/orders", body, content_type="application/json", headers={"Idempotency-Key": key}, **headers
    )


@pytest.fixture
def lamp() -> Variant:
    return make_product("Desk lamp", price="40.00", stock=4).variants.get()


def test_a_guest_checks_out_the_cart_of_their_token(client: Client, lamp: Variant) -> None:
    token = add_to_cart(client, lamp, 2)

    response = place(client, "k1", order_body(shipping_method="express"), HTTP_X_CART_TOKEN=token)

    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get()
    assert body["number"] == order.number
    assert body["payment"]["status"] == "succeeded"
    assert Decimal(body["subtotal"]) == Decimal("80.00")
    assert Decimal(body["tax"]) == Decimal("7.10")  # New York sales tax on the goods
    assert [line["quantity"] for line in body["lines"]] == [2]
    lamp.refresh_from_db()
    assert lamp.stock == 2
    # The guest link opens the order without signing in; a wrong token does not.
    opened = client.get(f"/api/orders/by-number/{order.number}", {"token": body["access_token"]})
    assert opened.status_code == 200
    assert opened.json()["id"] == order.pk
    assert client.get(f"/api/orders/by-number/{order.number}", {"token": "x"}).status_code == 404


def test_a_retried_request_returns_the_same_order_and_a_changed_one_conflicts(client: Client, lamp: Variant) -> None:
    token = add_to_cart(client, lamp, 1)
    first = place(client, "same", order_body(), HTTP_X_CART_TOKEN=token)
    again = place(client, "same", order_body(), HTTP_X_CART_TOKEN=token)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["payment"]["id"] == first.json()["payment"]["id"]
    lamp.refresh_from_db()
    assert lamp.stock == 3
    changed = place(client, "same", order_body(email="other@example.com"), HTTP_X_CART_TOKEN=token)
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"


def test_a_declined_card_is_a_402_naming_the_order_and_the_guest_can_retry(client: Client, lamp: Variant) -> None:
    token = add_to_cart(client, lamp, 1)

    declined = place(client, "k", order_body(card=DECLINED), HTTP_X_CART_TOKEN=token)

    assert declined.status_code == 402
    error = declined.json()["error"]
    order = Order.objects.get()
    assert error["code"] == "card_declined"
    assert error["fields"]["order"] == [order.number]
    lamp.refresh_from_db()
    assert lamp.stock == 4

    from patron.orders.placement import order_access_token

    guest_token = order_access_token(order)
    refused = client.post(
        f"/api/orders/{order.pk}/pay?token=wrong", {"card": GOOD}, content_type="application/json",
        headers={"Idempotency-Key": "retry"},
    )  # fmt: skip
    assert refused.status_code == 404
    paid = client.post(
        f"/api/orders/{order.pk}/pay?token={guest_token}", {"card": GOOD}, content_type="application/json",
        headers={"Idempotency-Key": "retry"},
    )  # fmt: skip
    assert paid.status_code == 200, paid.content
    assert paid.json()["payment"]["status"] == "succeeded"
    lamp.refresh_from_db()
    assert lamp.stock == 3


def test_customers_check_out_their_own_cart_and_their_email_is_the_default(client: Client, lamp: Variant) -> None:
    ada = make_user()
    add_to_cart(client, lamp, 1, **bearer(ada))

    response = place(client, "k", order_body(email=""), **bearer(ada))

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert (order.user, order.email) == (ada, ada.email)
    assert client.get(f"/api/orders/{order.pk}", **bearer(ada)).status_code == 200


def test_refusals_are_json_with_their_fields(client: Client, lamp: Variant) -> None:
    token = add_to_cart(client, lamp, 3)
    no_key = client.post("/api/orders", order_body(), content_type="application/json", HTTP_X_CART_TOKEN=token)
    assert no_key.status_code == 422
    bad = place(
        client, "k", order_body(email="nope", shipping_address={**ADDRESS, "city": ""}), HTTP_X_CART_TOKEN=token
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"email", "city"}
    Variant.objects.filter(pk=lamp.pk).update(stock=2)
    short = place(client, "k2", order_body(), HTTP_X_CART_TOKEN=token)
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "out_of_stock"
    assert "Only 2 left" in short.json()["error"]["message"]
    empty = place(client, "k3", order_body())
    assert empty.status_code == 422
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_whole_checkout_over_the_api_stays_within_40_statements(client: Client) -> None:
    # A transactional test starts from empty tables, without the migrations' starting rates.
    ShippingMethod.objects.get_or_create(code="standard", defaults={"name": "Standard", "price": Decimal("4.99")})
    lamp = make_product("Desk lamp", price="40.00", stock=4).variants.get()

    with CaptureQueriesContext(connection) as captured:
        token = add_to_cart(client, lamp, 1)
        quoted = client.get(
            "/api/cart/", {"country": "US", "region": "NY", "shipping_method": "standard"}, HTTP_X_CART_TOKEN=token
        )
        placed = place(client, "k", order_body(shipping_method="standard"), HTTP_X_CART_TOKEN=token)

    assert quoted.status_code == 200
    assert placed.status_code == 201, placed.content
    sent = statements(captured)
    assert len(sent) <= 40, "\n".join(sent)
    assert Order.objects.get().status == OrderStatus.PENDING_PAYMENT  # the worker marks it paid


def test_a_paid_order_cannot_be_paid_again_and_others_cannot_pay_it(client: Client, lamp: Variant) -> None:
    ada, bob = make_user(), make_user("bob@example.com")
    add_to_cart(client, lamp, 1, **bearer(ada))
    order_id = place(client, "k", order_body(), **bearer(ada)).json()["id"]

    def pay(key: str, **headers: Any) -> Any:
        return client.post(
            f"/api/orders/{order_id}/pay", {"card": GOOD}, content_type="application/json",
            headers={"Idempotency-Key": key}, **headers,
        )  # fmt: skip

    assert pay("again", **bearer(bob)).status_code == 404
    assert pay("again").status_code == 404  # a guest without the order's token
    again = pay("again", **bearer(ada))
    assert again.status_code == 409
    # The worker has not marked the order paid yet; its succeeded payment already refuses a second one.
    assert again.json()["error"]["code"] == "already_paid"
    assert client.get("/api/orders/by-number/NOSUCHORDER", {"token": "x"}).status_code == 404
