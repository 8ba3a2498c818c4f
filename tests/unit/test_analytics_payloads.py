"""Analytics payloads: what is stored is bounded, and what a page may report is checked field by field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pytest_django import Settings

from patron.analytics import ga4
from patron.analytics.services import (
    MAX_BODY_BYTES,
    MAX_LIST,
    MAX_PAYLOAD_BYTES,
    MAX_STRING,
    TRUNCATED,
    bound_payload,
    parse_client_event,
)
from patron.errors import ValidationFailed


def body(name: str, payload: Any) -> bytes:
    return json.dumps({"name": name, "payload": payload}).encode()


def refusal(raw: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_client_event(raw)
    return caught.value


# Bounding ---------------------------------------------------------------------------------------------------------


def test_long_strings_and_lists_are_cut_and_values_become_plain_json() -> None:
    payload = bound_payload(
        {
            "query": "x" * 1000,
            "ids": list(range(500)),
            "price": Decimal("12.50"),
            "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            "ratio": float("nan"),
            "flag": True,
        }
    )
    assert payload["query"] == "x" * MAX_STRING
    assert payload["ids"] == list(range(MAX_LIST))
    assert payload["price"] == "12.50"
    assert payload["at"] == "2026-01-02T03:04:00+00:00"
    assert payload["ratio"] is None
    assert payload["flag"] is True
    json.dumps(payload)  # storable as it is


def test_deep_nesting_is_dropped() -> None:
    deep: dict[str, Any] = {"value": 1}
    for _ in range(10):
        deep = {"inner": deep}
    bounded = bound_payload({"deep": deep})
    depth = 0
    node: Any = bounded
    while isinstance(node, dict) and node:
        node = next(iter(node.values()))
        depth += 1
    assert node is None
    assert depth <= 5


def test_an_oversized_payload_keeps_the_keys_that_fit_and_says_so() -> None:
    payload = {f"key{number}": "y" * MAX_STRING for number in range(25)}
    bounded = bound_payload(payload)
    assert len(json.dumps(bounded, separators=(",", ":")).encode()) <= MAX_PAYLOAD_BYTES
    assert bounded[TRUNCATED] is True
    assert bounded["key0"] == "y" * MAX_STRING
    assert "key24" not in bounded


def test_a_small_payload_is_kept_as_it_is() -> None:
    assert bound_payload({"product_id": 7, "slot": "home"}) == {"product_id": 7, "slot": "home"}
    assert bound_payload(None) == {}


# What pages may report --------------------------------------------------------------------------------------------


def test_each_client_event_is_accepted_with_its_payload() -> None:
    assert parse_client_event(body("product_viewed", {"product_id": 5})) == ("product_viewed", {"product_id": 5})
    assert parse_client_event(body("search_performed", {"query": "mug", "result_count": 3})) == (
        "search_performed",
        {"query": "mug", "result_count": 3},
    )
    shown = {"recommendation_id": "r1", "slot": "home", "model": "als@3", "product_ids": [1, 2]}
    assert parse_client_event(body("recommendation_shown", shown)) == ("recommendation_shown", shown)
    clicked = {"recommendation_id": "r1", "slot": "home", "model": "als@3", "product_id": 2}
    assert parse_client_event(body("recommendation_clicked", clicked)) == ("recommendation_clicked", clicked)


@pytest.mark.parametrize("name", ["cart_item_added", "order_placed", "checkout_started", "anything"])
def test_server_side_and_unknown_names_are_refused(name: str) -> None:
    error = refusal(body(name, {"product_id": 5}))
    assert list(error.fields) == ["name"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload.product_id"),
        ({"product_id": "5"}, "payload.product_id"),
        ({"product_id": 0}, "payload.product_id"),
        ({"product_id": True}, "payload.product_id"),
        ({"product_id": 2**63}, "payload.product_id"),
        ({"product_id": 5, "email": "ada@example.com"}, "payload.email"),
    ],
)
def test_a_product_view_payload_is_checked_strictly(payload: dict[str, Any], field: str) -> None:
    error = refusal(body("product_viewed", payload))
    assert field in error.fields
    assert error.status == 422


def test_search_and_recommendation_payloads_are_bounded() -> None:
    assert "payload.query" in refusal(body("search_performed", {"query": "q" * 201, "result_count": 1})).fields
    assert "payload.result_count" in refusal(body("search_performed", {"query": "q", "result_count": -1})).fields
    base = {"recommendation_id": "r1", "slot": "home", "model": "m@1"}
    assert (
        "payload.product_ids"
        in refusal(body("recommendation_shown", {**base, "product_ids": list(range(1, 60))})).fields
    )
    assert "payload.product_id" in refusal(body("recommendation_clicked", base)).fields
    assert "payload.slot" in refusal(body("recommendation_clicked", {**base, "slot": "", "product_id": 1})).fields


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"text"', b'{"payload": {}}', b'{"name": 5, "payload": {}}', b"\xff\xfe"],
)
def test_bodies_that_are_not_an_event_are_refused(raw: bytes) -> None:
    assert refusal(raw).status == 422


def test_a_body_over_the_size_cap_is_refused_before_it_is_parsed() -> None:
    raw = body("search_performed", {"query": "a", "result_count": 1, "padding": "p" * MAX_BODY_BYTES})
    error = refusal(raw)
    assert "bytes" in error.message


# GA4 --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "expected"),
    [("", ""), ("G-ABC123XYZ", "G-ABC123XYZ"), (" G-ABC123XYZ ", "G-ABC123XYZ"), ("UA-1234-1", ""), ("G-<x>", "")],
)
def test_only_a_ga4_measurement_id_turns_ga4_on(settings: Settings, configured: str, expected: str) -> None:
    settings.GA4_MEASUREMENT_ID = configured
    assert ga4.measurement_id() == expected


def test_items_follow_the_ga4_item_schema() -> None:
    entry = ga4.item(12, "Linen Shirt", price=Decimal("30.00"), quantity=2, brand="Acme", sku="SKU-1", index=0)
    assert entry == {
        "item_id": "12",
        "item_name": "Linen Shirt",
        "price": 30.0,
        "item_brand": "Acme",
        "item_variant": "SKU-1",
        "index": 0,
        "quantity": 2,
    }
    assert ga4.items_value([entry, ga4.item(3, "Mug", price=Decimal("12.50"))]) == 72.5
