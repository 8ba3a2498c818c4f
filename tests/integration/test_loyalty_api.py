"""/api/loyalty: points with tier progress and paginated history, rewards, redeeming, the referral link and product
estimates; each customer sees only their own points, and refusals are JSON errors."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import bearer, make_user
from patron.catalog.models import Variant
from patron.loyalty import services
from patron.loyalty.models import RuleKind
from patron.pricing.models import DiscountCode, DiscountKind
from tests.integration import test_loyalty_earning as shared
from tests.integration.test_loyalty_earning import buy, make_rule, make_tier
from tests.integration.test_loyalty_rewards import make_reward

pytestmark = pytest.mark.django_db
clock, kitchen, mug = shared.clock, shared.kitchen, shared.mug  # fixtures


def test_points_show_balance_pending_tier_progress_and_history(
    client: Client, customer: User, staff: User, mug: Variant, clock: datetime
) -> None:
    make_rule(RuleKind.SPEND, 1)
    make_tier("Bronze", 0)
    make_tier("Silver", 100, "1.25", free_shipping=True)
    buy(customer, (mug, 2), now=clock)
    services.adjust_points(customer.pk, 30, reason="Goodwill", actor=staff)

    body = client.get("/api/loyalty/points", **bearer(customer)).json()

    assert (body["balance"], body["pending"], body["value"], body["currency"]) == (30, 40, "0.30", "USD")
    progress = body["progress"]
    assert progress["tier"]["name"] == "Bronze"
    assert progress["next_tier"] == {
        "id": progress["next_tier"]["id"],
        "name": "Silver",
        "threshold": "100.00",
        "earn_multiplier": "1.25",
        "perks": ["Free shipping"],
    }
    assert (progress["qualifying"], progress["remaining"], progress["percent"]) == ("40.00", "60.00", 40)
    assert [(item["kind"], item["points"], item["pending"]) for item in body["history"]["items"]] == [
        ("adjusted", 30, 0),
        ("earned", 0, 40),
    ]
    code = services.account_for(customer).referral_code
    assert body["referral_link"].endswith(f"/account/register/?ref={code}")


def test_history_is_paginated_in_a_bounded_number_of_queries(
    client: Client, customer: User, staff: User, django_assert_max_num_queries: Any
) -> None:
    for n in range(25):
        services.adjust_points(customer.pk, n + 1, reason=f"Entry {n}", actor=staff)
    headers = bearer(customer)
    client.get("/api/loyalty/points", **headers)  # the program's configuration is cached from the first request on

    with django_assert_max_num_queries(8):
        first = client.get("/api/loyalty/points", {"page_size": 10}, **headers).json()["history"]
    with django_assert_max_num_queries(8):
        last = client.get("/api/loyalty/points", {"page_size": 10, "page": 3}, **headers).json()["history"]

    assert (first["total"], first["num_pages"], len(first["items"])) == (25, 3, 10)
    assert first["items"][0]["description"] == "Entry 24"
    assert (last["page"], [item["description"] for item in last["items"]]) == (
        3,
        [f"Entry {n}" for n in range(4, -1, -1)],
    )


def test_each_customer_sees_only_their_own_points(client: Client, customer: User, staff: User) -> None:
    services.adjust_points(customer.pk, 70, reason="Goodwill", actor=staff)
    bob = make_user("bob@example.com")

    body = client.get("/api/loyalty/points", **bearer(bob)).json()

    assert (body["balance"], body["history"]["items"]) == (0, [])


def test_points_need_a_valid_token(client: Client) -> None:
    for response in (
        client.get("/api/loyalty/points"),
        client.get("/api/loyalty/rewards", HTTP_AUTHORIZATION="Bearer forged"),
        client.post("/api/loyalty/redeem", {"reward_id": 1}, content_type="application/json"),
        client.get("/api/loyalty/referral"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_redeem_returns_the_code_and_the_new_balance(client: Client, customer: User, staff: User) -> None:
    services.adjust_points(customer.pk, 650, reason="Goodwill", actor=staff)
    reward = make_reward(min_order=Decimal(25))

    response = client.post(
        "/api/loyalty/redeem", {"reward_id": reward.pk}, content_type="application/json", **bearer(customer)
    )

    assert response.status_code == 201
    body = response.json()
    code = DiscountCode.objects.get(user=customer)
    assert (body["code"], body["kind"], body["value"], body["min_order"]) == (code.code, "fixed", "5.00", "25.00")
    assert (body["points_spent"], body["balance"]) == (500, 150)


def test_redeem_refusals_are_json_errors(client: Client, customer: User) -> None:
    headers = bearer(customer)
    reward = make_reward()

    short = client.post("/api/loyalty/redeem", {"reward_id": reward.pk}, content_type="application/json", **headers)
    missing = client.post("/api/loyalty/redeem", {"reward_id": 2**62}, content_type="application/json", **headers)
    invalid = client.post("/api/loyalty/redeem", {"reward_id": 0}, content_type="application/json", **headers)

    assert (short.status_code, short.json()["error"]["code"]) == (409, "not_enough_points")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "validation_failed")


def test_rewards_for_visitors_and_customers(client: Client, customer: User, staff: User) -> None:
    services.adjust_points(customer.pk, 300, reason="Goodwill", actor=staff)
    make_reward("Free shipping", 300, kind=DiscountKind.FREE_SHIPPING)
    make_reward("$5 off", 500)

    visitor = client.get("/api/loyalty/rewards").json()
    member = client.get("/api/loyalty/rewards", **bearer(customer)).json()

    assert [(item["name"], item["can_redeem"]) for item in visitor] == [("Free shipping", False), ("$5 off", False)]
    assert [(item["name"], item["can_redeem"], item["reason"]) for item in member] == [
        ("Free shipping", True, ""),
        ("$5 off", False, "200 more points needed."),
    ]


def test_the_referral_link(client: Client, customer: User) -> None:
    body = client.get("/api/loyalty/referral", **bearer(customer)).json()

    account = services.account_for(customer)
    assert body == {
        "code": account.referral_code,
        "link": f"http://127.0.0.1:8000/account/register/?ref={account.referral_code}",
        "invited": 0,
        "rewarded": 0,
    }


def test_estimates_include_the_tier_multiplier_of_the_caller(client: Client, customer: User, mug: Variant) -> None:
    make_rule(RuleKind.SPEND, 1)
    gold = make_tier("Gold", 0, "1.50")
    services.refresh_tier(customer.pk)

    visitor = client.get(f"/api/loyalty/estimate/{mug.product_id}").json()
    member = client.get(f"/api/loyalty/estimate/{mug.product_id}", **bearer(customer)).json()
    missing = client.get("/api/loyalty/estimate/987654")

    assert (visitor["low"], visitor["high"], visitor["tier"]) == (20, 20, None)
    assert (member["low"], member["high"], member["tier"]) == (30, 30, gold.name)
    assert missing.status_code == 404
