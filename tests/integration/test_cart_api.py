"""/api/cart end to end: guests with a cart token, customers with a bearer token, isolation and validation."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, bearer, make_user
from patron.cart.models import Cart, CartLine
from patron.catalog.models import Product, Variant
from patron.pricing.models import ShippingMethod
from patron.pricing.services import issue_discount_code
from tests.factories import make_product

pytestmark = pytest.mark.django_db

URL = "/api/cart/"


@pytest.fixture
def mug() -> Variant:
    return make_product("Mug", price="12.50", stock=3).variants.get()


@pytest.fixture
def lamp() -> Variant:
    return make_product("Lamp", price="40.00", stock=8).variants.get()


@pytest.fixture
def customer() -> User:
    return make_user()


def call(client: Client, method: str, url: str, body: Any = None, **headers: Any) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"content_type": "application/json", **headers}
    if body is not None:
        kwargs["data"] = json.dumps(body) if not isinstance(body, str) else body
    response = getattr(client, method)(url, **kwargs)
    return response.status_code, response.json()


def guest(token: str) -> dict[str, str]:
    return {"HTTP_X_CART_TOKEN": token}


def test_a_guest_gets_a_token_on_the_first_add_and_uses_it(client: Client, mug: Variant, lamp: Variant) -> None:
    response = client.post(URL, {"variant_id": mug.pk, "quantity": 2}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    token = body["token"]
    assert token and response["X-Cart-Token"] == token
    assert body["item_count"] == 2
    [line] = body["lines"]
    assert line["variant_id"] == mug.pk and line["product_name"] == "Mug"
    assert (line["unit_price"], line["line_total"]) == ("12.50", "25.00")

    status, body = call(client, "post", URL, {"variant_id": lamp.pk}, **guest(token))
    assert status == 201 and body["token"] == token
    assert body["item_count"] == 3
    assert Cart.objects.count() == 1

    status, body = call(client, "get", URL, **guest(token))
    assert status == 200
    assert [line["quantity"] for line in body["lines"]] == [2, 1]
    assert body["subtotal"] == "65.00"
    # 65.00 is over the default standard rate's free-shipping threshold.
    assert (body["shipping"], body["shipping_method"], body["total"]) == ("0.00", "standard", "65.00")
    assert body["currency"] == "USD" and body["can_check_out"] is True
    assert [option["code"] for option in body["shipping_options"]] == ["standard", "express"]


def test_a_guest_without_a_cart_sees_an_empty_one(client: Client) -> None:
    status, body = call(client, "get", URL)
    assert status == 200
    assert body["token"] is None and body["lines"] == [] and body["total"] == "0.00"
    status, body = call(client, "get", URL, **guest("not-a-real-token"))
    assert status == 200 and body["lines"] == []
    assert not Cart.objects.exists()


def test_change_and_remove_lines(client: Client, mug: Variant, lamp: Variant) -> None:
    _, body = call(client, "post", URL, {"variant_id": mug.pk, "quantity": 1})
    token = body["token"]
    _, body = call(client, "post", URL, {"variant_id": lamp.pk}, **guest(token))
    mug_line, lamp_line = (line["id"] for line in body["lines"])

    status, body = call(client, "put", f"{URL}{mug_line}", {"quantity": 3}, **guest(token))
    assert status == 200
    assert body["lines"][0]["quantity"] == 3 and body["subtotal"] == "77.50"

    status, body = call(client, "delete", f"{URL}{lamp_line}", **guest(token))
    assert status == 200 and [line["id"] for line in body["lines"]] == [mug_line]

    status, body = call(client, "put", f"{URL}{mug_line}", {"quantity": 0}, **guest(token))
    assert status == 200 and body["lines"] == [] and body["item_count"] == 0


def test_stock_is_checked_with_a_clear_message(client: Client, mug: Variant) -> None:
    status, body = call(client, "post", URL, {"variant_id": mug.pk, "quantity": 5})
    assert status == 422
    assert body["error"]["message"] == "Only 3 left in stock."
    assert body["error"]["fields"] == {"quantity": ["Only 3 left in stock."]}
    # A refused first add leaves no empty guest cart behind.
    assert not Cart.objects.exists()

    _, body = call(client, "post", URL, {"variant_id": mug.pk, "quantity": 3})
    line_id = body["lines"][0]["id"]
    status, body = call(client, "put", f"{URL}{line_id}", {"quantity": 4}, **guest(body["token"]))
    assert status == 422 and body["error"]["message"] == "Only 3 left in stock."


def test_prices_are_current_and_unavailable_lines_are_flagged(client: Client, mug: Variant, lamp: Variant) -> None:
    _, body = call(client, "post", URL, {"variant_id": mug.pk, "quantity": 2})
    token = body["token"]
    call(client, "post", URL, {"variant_id": lamp.pk}, **guest(token))
    Variant.objects.filter(pk=mug.pk).update(price=Decimal("10.00"))
    Product.objects.filter(pk=lamp.product_id).update(is_active=False)

    _, body = call(client, "get", URL, **guest(token))
    mug_line, lamp_line = body["lines"]
    assert (mug_line["unit_price"], mug_line["available"], mug_line["problem"]) == ("10.00", True, None)
    assert (lamp_line["available"], lamp_line["problem"]) == (False, "This product is no longer available.")
    assert body["subtotal"] == "20.00"
    assert body["can_check_out"] is False
    assert body["problems"] == ["Lamp: This product is no longer available."]


def test_totals_follow_shipping_country_and_discount_code(client: Client, mug: Variant) -> None:
    _, body = call(client, "post", URL, {"variant_id": mug.pk, "quantity": 2})
    token = body["token"]
    code = issue_discount_code(kind="percent", value=Decimal("10"))
    query = f"?shipping_method=express&country=GB&discount_code={code.code}"
    status, body = call(client, "get", URL + query, **guest(token))
    assert status == 200
    assert (body["subtotal"], body["discount"], body["shipping"]) == ("25.00", "2.50", "14.99")
    # VAT in the example GB rate also applies to shipping: 20 % of 22.50 + 14.99.
    assert (body["tax"], body["total"]) == ("7.50", "44.99")
    assert body["discount_code"] == code.code

    status, body = call(client, "get", URL + "?discount_code=WRONG", **guest(token))
    assert status == 422 and "discount_code" in body["error"]["fields"]
    status, body = call(client, "get", URL + "?shipping_method=teleport", **guest(token))
    assert status == 422 and "shipping_method" in body["error"]["fields"]


def test_a_customer_uses_their_own_cart_with_a_bearer_token(client: Client, customer: User, mug: Variant) -> None:
    auth = bearer(customer)
    status, body = call(client, "post", URL, {"variant_id": mug.pk}, **auth)
    assert status == 201 and body["token"] is None
    assert Cart.objects.get().user == customer
    status, body = call(client, "get", URL, **auth)
    assert [line["variant_id"] for line in body["lines"]] == [mug.pk]
    # Without the bearer token the same client is just a guest with nothing in the cart.
    assert call(client, "get", URL)[1]["lines"] == []


def test_an_invalid_bearer_token_is_refused_not_treated_as_a_guest(client: Client, mug: Variant) -> None:
    status, body = call(client, "post", URL, {"variant_id": mug.pk}, HTTP_AUTHORIZATION="Bearer forged")
    assert status == 401 and body["error"]["code"] == "not_authenticated"
    assert not Cart.objects.exists()


def test_lines_of_other_carts_are_not_found(client: Client, customer: User, mug: Variant, lamp: Variant) -> None:
    _, body = call(client, "post", URL, {"variant_id": mug.pk})
    first_token, first_line = body["token"], body["lines"][0]["id"]
    _, body = call(client, "post", URL, {"variant_id": lamp.pk})
    second_token = body["token"]
    _, body = call(client, "post", URL, {"variant_id": lamp.pk}, **bearer(customer))
    customer_line = body["lines"][0]["id"]

    attempts = [
        ("put", f"{URL}{first_line}", {"quantity": 2}, guest(second_token)),
        ("delete", f"{URL}{first_line}", None, guest(second_token)),
        ("put", f"{URL}{first_line}", {"quantity": 2}, bearer(customer)),
        ("delete", f"{URL}{customer_line}", None, guest(first_token)),
        ("delete", f"{URL}{customer_line}", None, {}),
    ]
    for method, url, payload, headers in attempts:
        status, body = call(client, method, url, payload, **headers)
        assert status == 404, (method, url, headers)
        assert body["error"]["code"] == "not_found"
    assert dict(CartLine.objects.values_list("pk", "quantity"))[first_line] == 1
    assert CartLine.objects.filter(pk=customer_line).exists()


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("post", URL, {}),
        ("post", URL, {"variant_id": "abc"}),
        ("post", URL, {"variant_id": 1, "quantity": 0}),
        ("post", URL, {"variant_id": 1, "quantity": -3}),
        ("post", URL, {"variant_id": 10**30}),
        ("post", URL, "{not json"),
        ("put", f"{URL}1", {"quantity": -1}),
        ("put", f"{URL}1", {}),
        ("put", f"{URL}{10**30}", {"quantity": 1}),
    ],
)
def test_malformed_input_is_a_json_4xx(client: Client, method: str, url: str, payload: Any) -> None:
    status, body = call(client, method, url, payload)
    assert 400 <= status < 500
    assert isinstance(body["error"]["message"], str)


def test_unknown_variant_is_a_validation_error(client: Client) -> None:
    status, body = call(client, "post", URL, {"variant_id": 424242})
    assert status == 422 and body["error"]["fields"] == {"variant_id": ["This product is no longer available."]}


def test_signing_in_with_the_cart_token_merges_the_guest_cart(client: Client, customer: User, mug: Variant) -> None:
    own_status, _ = call(client, "post", URL, {"variant_id": mug.pk}, **bearer(customer))
    assert own_status == 201
    _, body = call(client, "post", URL, {"variant_id": mug.pk, "quantity": 3})
    token = body["token"]

    status, tokens = call(
        client, "post", "/api/auth/login", {"email": customer.email, "password": PASSWORD}, **guest(token)
    )
    assert status == 200
    _, body = call(client, "get", URL, HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    # 1 + 3 capped at the stock of 3.
    assert [(line["variant_id"], line["quantity"]) for line in body["lines"]] == [(mug.pk, 3)]
    assert Cart.objects.count() == 1


def test_cart_reads_run_a_bounded_number_of_queries(client: Client, django_assert_max_num_queries: Any) -> None:
    token = ""
    for number in range(20):
        variant = make_product(f"Thing {number}", price="2.00", stock=5).variants.get()
        _, body = call(client, "post", URL, {"variant_id": variant.pk}, **(guest(token) if token else {}))
        token = body["token"]
    with django_assert_max_num_queries(6):
        status, body = call(client, "get", URL + "?country=US&region=NY", **guest(token))
    assert status == 200 and body["item_count"] == 20
    with django_assert_max_num_queries(10):
        status, body = call(client, "put", f"{URL}{body['lines'][0]['id']}", {"quantity": 2}, **guest(token))
    assert status == 200 and body["item_count"] == 21


def test_without_any_shipping_method_totals_are_null_with_the_reason(client: Client, mug: Variant) -> None:
    ShippingMethod.objects.update(is_active=False)
    status, body = call(client, "post", URL, {"variant_id": mug.pk})
    assert status == 201
    assert body["total"] is None and body["subtotal"] is None and body["pricing_problem"]
    assert body["can_check_out"] is False and body["item_count"] == 1
