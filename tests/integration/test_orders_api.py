"""/api/orders: ownership, staff-only actions and their errors, and the carrier webhook under /api/shipping."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries, Settings

from patron.accounts.models import User
from patron.accounts.testing import bearer, make_user
from patron.catalog.models import Variant
from patron.orders.models import Order, OrderStatus, TrackingEvent
from patron.orders.services import carrier_signature, mark_paid
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db

SECRET = "carrier-shared-secret"


@pytest.fixture
def variant() -> Variant:
    return make_product("Kettle", price="20.00", stock=50).variants.get()


def _paid(variant: Variant, user: User | None) -> Order:
    order = make_order([(variant, 1)], user=user)
    mark_paid(order.pk, pay(order).pk)
    order.refresh_from_db()
    return order


def _post(client: Client, url: str, body: dict[str, Any], user: User | None) -> Any:
    headers = bearer(user) if user else {}
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def test_customers_see_only_their_orders(
    client: Client, customer: User, staff: User, variant: Variant, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    mine = [make_order([(variant, 1)], user=customer) for _ in range(3)]
    theirs = make_order([(variant, 1)], user=make_user("eve@example.com"))

    with django_assert_max_num_queries(6):
        listed = client.get("/api/orders/?page_size=2", **bearer(customer)).json()
    assert (listed["total"], listed["num_pages"], len(listed["items"])) == (3, 2, 2)
    assert {item["number"] for item in listed["items"]} <= {order.number for order in mine}

    assert client.get(f"/api/orders/{theirs.pk}", **bearer(customer)).status_code == 404
    assert client.get(f"/api/orders/{theirs.pk}", **bearer(customer)).json()["error"]["code"] == "not_found"
    assert client.get("/api/orders/", **bearer(staff)).json()["total"] == 4
    assert client.get("/api/orders/").status_code == 401


def test_order_detail_has_lines_totals_history_shipments_and_payments(
    client: Client, customer: User, staff: User, variant: Variant, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    order = _paid(variant, customer)
    shipment = _post(
        client, f"/api/orders/{order.pk}/shipments", {"carrier": "Parcelo", "tracking_number": "P1"}, staff
    ).json()
    event = {"at": "2026-01-02T10:00:00+00:00", "status": "in_transit", "location": "Leeds", "external_id": "e1"}
    assert _post(client, f"/api/orders/{order.pk}/shipments/{shipment['id']}/events", event, staff).status_code == 201

    with django_assert_max_num_queries(9):
        body = client.get(f"/api/orders/{order.pk}", **bearer(customer)).json()
    assert body["status"] == "shipped"
    assert (body["total"], body["subtotal"], body["shipping"]) == ("25.00", "20.00", "5.00")
    assert [line["sku"] for line in body["lines"]] == [variant.sku]
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        ("", "pending_payment"),
        ("pending_payment", "paid"),
        ("paid", "shipped"),
    ]
    assert body["shipments"][0]["events"][0]["location"] == "Leeds"
    assert [(p["status"], p["amount"]) for p in body["payments"]] == [("succeeded", "25.00")]


def test_staff_endpoints_refuse_customers_and_strangers(client: Client, customer: User, variant: Variant) -> None:
    order = _paid(variant, customer)
    for url, body in [
        (f"/api/orders/{order.pk}/transitions", {"to": "processing"}),
        (f"/api/orders/{order.pk}/shipments", {"carrier": "Parcelo", "tracking_number": "P1"}),
        (f"/api/orders/{order.pk}/refunds", {"amount": "1.00"}),
    ]:
        assert _post(client, url, body, None).status_code == 401
        refused = _post(client, url, body, customer)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_staff_move_ship_and_refund(client: Client, customer: User, staff: User, variant: Variant) -> None:
    order = _paid(variant, customer)
    moved = _post(client, f"/api/orders/{order.pk}/transitions", {"to": "processing", "note": "picking"}, staff)
    assert moved.status_code == 200
    assert moved.json()["history"][-1] == {
        "from_status": "paid",
        "to_status": "processing",
        "at": moved.json()["history"][-1]["at"],
        "actor_id": staff.pk,
        "note": "picking",
    }
    illegal = _post(client, f"/api/orders/{order.pk}/transitions", {"to": "delivered"}, staff)
    assert illegal.status_code == 409
    assert illegal.json()["error"]["message"] == "An order that is processing cannot become delivered."
    unknown = _post(client, f"/api/orders/{order.pk}/transitions", {"to": "lost"}, staff)
    assert unknown.status_code == 422

    refunded = _post(client, f"/api/orders/{order.pk}/refunds", {"amount": "5.00", "note": "late"}, staff).json()
    assert refunded["status"] == "processing"
    assert refunded["payments"][0]["amount_refunded"] == "5.00"
    too_much = _post(client, f"/api/orders/{order.pk}/refunds", {"amount": "20.01"}, staff)
    assert too_much.status_code == 422
    assert too_much.json()["error"]["fields"] == {"amount": ["At most 20.00 USD can be refunded."]}
    assert _post(client, f"/api/orders/{order.pk}/refunds", {"amount": "-1"}, staff).status_code == 422


def test_owner_cancels_but_not_others(client: Client, customer: User, staff: User, variant: Variant) -> None:
    order = make_order([(variant, 2)], user=customer)
    assert _post(client, f"/api/orders/{order.pk}/cancel", {}, make_user("eve@example.com")).status_code == 404
    cancelled = _post(client, f"/api/orders/{order.pk}/cancel", {"note": "too slow"}, customer)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    variant.refresh_from_db()
    assert variant.stock == 50
    again = _post(client, f"/api/orders/{order.pk}/cancel", {}, staff)
    assert again.status_code == 409


def _signed(body: bytes, secret: str = SECRET) -> dict[str, Any]:
    return {"HTTP_X_PATRON_SIGNATURE": carrier_signature(body, secret)}


def test_carrier_webhook_checks_the_signature_and_ignores_replays(
    client: Client,
    customer: User,
    staff: User,
    variant: Variant,
    settings: Settings,
) -> None:
    settings.CARRIER_WEBHOOK_SECRET = SECRET
    order = _paid(variant, customer)
    _post(client, f"/api/orders/{order.pk}/shipments", {"carrier": "Parcelo", "tracking_number": "PX-9"}, staff)
    update = {
        "tracking_number": "PX-9",
        "events": [
            {"id": "ev-2", "at": "2026-01-03T09:00:00Z", "status": "delivered", "location": "London"},
            {"id": "ev-1", "at": "2026-01-02T18:00:00Z", "status": "in_transit", "description": "Left the hub"},
        ],
    }
    body = json.dumps(update).encode()

    forged = client.post("/api/shipping/carrier-webhook", body, content_type="application/json", **_signed(body, "x"))
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_signature"
    unsigned = client.post("/api/shipping/carrier-webhook", body, content_type="application/json")
    assert unsigned.status_code == 401
    assert not TrackingEvent.objects.exists()

    accepted = client.post("/api/shipping/carrier-webhook", body, content_type="application/json", **_signed(body))
    assert (accepted.status_code, accepted.json()) == (200, {"received": 2})
    replay = client.post("/api/shipping/carrier-webhook", body, content_type="application/json", **_signed(body))
    assert replay.status_code == 200
    assert list(TrackingEvent.objects.values_list("external_id", flat=True)) == ["ev-1", "ev-2"]
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.history.filter(to_status=OrderStatus.DELIVERED).count() == 1

    unknown = json.dumps({"tracking_number": "NOPE", "events": []}).encode()
    missing = client.post("/api/shipping/carrier-webhook", unknown, content_type="application/json", **_signed(unknown))
    assert missing.status_code == 404
    bad_batch = json.dumps(
        {
            "tracking_number": "PX-9",
            "events": [
                {"id": "ev-3", "at": "2026-01-04T09:00:00Z", "status": "in_transit"},
                {"id": "ev-4", "at": "2026-01-05T09:00:00Z", "status": "teleported"},
            ],
        }
    ).encode()
    refused = client.post(
        "/api/shipping/carrier-webhook", bad_batch, content_type="application/json", **_signed(bad_batch)
    )
    assert refused.status_code == 422
    assert TrackingEvent.objects.count() == 2
    impossible = json.dumps(
        {"tracking_number": "PX-9", "events": [{"id": "ev-5", "at": "2026-13-45T00:00:00Z", "status": "in_transit"}]}
    ).encode()
    assert (
        client.post(
            "/api/shipping/carrier-webhook", impossible, content_type="application/json", **_signed(impossible)
        ).status_code
        == 422
    )
    junk = b"not json"
    assert (
        client.post("/api/shipping/carrier-webhook", junk, content_type="application/json", **_signed(junk)).status_code
        == 422
    )


def test_carrier_webhook_is_refused_without_a_configured_secret(client: Client, settings: Settings) -> None:
    settings.CARRIER_WEBHOOK_SECRET = ""
    body = b'{"tracking_number": "PX-9", "events": []}'
    response = client.post("/api/shipping/carrier-webhook", body, content_type="application/json", **_signed(body, ""))
    assert response.status_code == 401
