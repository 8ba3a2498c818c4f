"""The loyalty pages and everywhere the shopper sees the program: the rewards page, the product page's estimate
(fetched apart from the shared cached page), the account summary, checkout's points and one-click rewards, sign-up
with a referral code, the birthday preference, and the back-office (settings, ledger adjustment, liability report).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from patron.accounts.models import Preferences, User
from patron.accounts.testing import PASSWORD, bearer, make_user
from patron.catalog.models import Variant
from patron.loyalty import services
from patron.loyalty.models import EarningRule, EntryKind, LoyaltyPoints, PointsEntry, Referral, Reward, RuleKind, Tier
from patron.pricing.models import DiscountCode
from tests.integration import test_loyalty_earning as shared
from tests.integration.test_loyalty_earning import balance, buy, make_rule, make_tier, program
from tests.integration.test_loyalty_rewards import make_reward

pytestmark = pytest.mark.django_db
clock, kitchen, mug = shared.clock, shared.kitchen, shared.mug  # fixtures

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def signed_in(client: Client, customer: User) -> Client:
    client.force_login(customer)
    return client


def text(response: Any) -> str:
    """The page's visible words, with tags and runs of whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- The rewards page ---------------------------------------------------------------------------------------


def test_visitors_see_how_to_earn_the_tiers_and_rewards(client: Client) -> None:
    services.install_starter_program()

    page = client.get("/loyalty/")

    assert page.status_code == 200
    words = text(page)
    assert "1 point for every $1.00 you spend (before shipping and tax)" in words
    assert "100 points when you create an account" in words
    assert "Silver From 500 points in 365 days · 1.25\N{MULTIPLICATION SIGN} points on purchases" in words
    assert "$5 off 500 points" in words and "Sign in to redeem." in words
    assert "Create an account" in words


def test_customers_see_balance_tier_progress_history_and_referral_link(
    signed_in: Client, customer: User, staff: User, mug: Variant, clock: datetime, django_assert_max_num_queries: Any
) -> None:
    services.install_starter_program()
    buy(customer, (mug, 2), now=clock)
    services.adjust_points(customer.pk, 600, reason="Welcome back", actor=staff)

    with django_assert_max_num_queries(12):
        page = signed_in.get("/loyalty/")

    words = text(page)
    html = page.content.decode()
    assert "600 points worth $6.00" in words
    assert "90 points pending" in words  # 40 for spending and 50 for a first order
    assert 'data-loyalty="tier">Bronze' in html
    assert '<progress max="100" value="18">' in html  # 90 of Silver's 500
    assert "410 more points to reach Silver" in words
    assert "Adjusted by staff Welcome back" in words
    assert f"?ref={services.account_for(customer).referral_code}" in html
    assert "Redeem $5 off" in words and "Redeem Free shipping" in words


def test_the_history_is_paged(signed_in: Client, customer: User, staff: User) -> None:
    for n in range(25):
        services.adjust_points(customer.pk, 1, reason=f"Entry {n}", actor=staff)

    first, second = signed_in.get("/loyalty/"), signed_in.get("/loyalty/?page=2")

    assert "Entry 24" in text(first) and "Entry 4 " not in text(first)
    assert "Page 2 of 2" in text(second) and "Entry 4 " in text(second)


def test_redeeming_from_the_page_shows_the_code(signed_in: Client, customer: User, staff: User) -> None:
    services.adjust_points(customer.pk, 500, reason="Goodwill", actor=staff)
    reward = make_reward()

    response = signed_in.post(f"/loyalty/rewards/{reward.pk}/redeem/", follow=True)

    code = DiscountCode.objects.get(user=customer)
    assert f"Your code {code.code} is ready" in text(response)
    assert "Your reward codes" in text(response)
    assert balance(customer) == (0, 0)
    again = signed_in.post(f"/loyalty/rewards/{reward.pk}/redeem/", follow=True)
    assert "This reward needs 500 points; you have 0." in text(again)


def test_redeeming_needs_a_signed_in_customer(client: Client) -> None:
    reward = make_reward()
    response = client.post(f"/loyalty/rewards/{reward.pk}/redeem/")

    assert response.status_code == 302 and "/account/login/" in response["Location"]
    assert not DiscountCode.objects.exists()


# --- Product page, account summary, navigation --------------------------------------------------------------


def test_the_product_page_stays_shared_while_its_estimate_follows_the_program_and_the_shopper(
    client: Client, customer: User, mug: Variant
) -> None:
    make_rule(RuleKind.SPEND, 1)
    product_url = f"/p/{mug.product.slug}/"
    first, second = client.get(product_url), client.get(product_url)
    assert second["X-Page-Cache"] == "hit"
    assert f'hx-get="/loyalty/estimate/{mug.product_id}/"' in first.content.decode()

    assert "Earn 20 points" in text(client.get(f"/loyalty/estimate/{mug.product_id}/", **HTMX))
    # A program change shows at once, with the product page still served from the cache.
    rule = EarningRule.objects.get()
    rule.points = 3
    rule.save()  # as the back-office does
    assert "Earn 60 points" in text(client.get(f"/loyalty/estimate/{mug.product_id}/", **HTMX))
    assert client.get(product_url)["X-Page-Cache"] == "hit"

    gold = make_tier("Gold", 0, "1.50")
    services.refresh_tier(customer.pk)
    client.force_login(customer)
    assert f"Earn 90 points as a {gold.name} member" in text(client.get(f"/loyalty/estimate/{mug.product_id}/", **HTMX))


def test_no_estimate_without_a_rule_for_spending(client: Client, mug: Variant) -> None:
    response = client.get(f"/loyalty/estimate/{mug.product_id}/", **HTMX)
    assert (response.status_code, response.content.strip()) == (200, b"")


def test_the_account_dashboard_shows_the_balance(signed_in: Client, customer: User, staff: User) -> None:
    services.adjust_points(customer.pk, 120, reason="Goodwill", actor=staff)

    assert "120 points worth $1.20" in text(signed_in.get("/account/"))
    summary = signed_in.get("/loyalty/summary/", **HTMX)
    assert "120 points worth $1.20" in text(summary)
    assert Client().get("/loyalty/summary/", **HTMX).content == b""


def test_every_page_links_to_the_rewards(client: Client) -> None:
    html = client.get("/").content.decode()
    assert re.search(r'<a class="rewards-link" href="/loyalty/">.*?Rewards</span>\s*</a>', html, re.DOTALL)


# --- Checkout -----------------------------------------------------------------------------------------------


def _cart(client: Client, variant: Variant, quantity: int = 1) -> None:
    assert client.post("/cart/add/", {"product_id": variant.product_id, "quantity": quantity}).status_code == 302


CHECKOUT = {
    "email": "ada@example.com",
    "full_name": "Ada Lovelace",
    "line1": "1 Analytical Way",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
    "shipping_method": "standard",
}


def test_checkout_shows_the_points_an_order_earns(client: Client, customer: User, mug: Variant) -> None:
    make_rule(RuleKind.SPEND, 1)
    _cart(client, mug, 2)
    assert "Log in to earn 40 points with this order." in text(client.get("/checkout/"))

    member = Client()
    member.force_login(customer)
    _cart(member, mug, 2)
    assert "You earn 40 points with this order." in text(member.get("/checkout/"))


def test_checkout_pays_two_queries_at_most_for_the_loyalty_offer(
    customer: User, staff: User, mug: Variant, django_assert_max_num_queries: Any
) -> None:
    make_rule(RuleKind.SPEND, 1)
    services.adjust_points(customer.pk, 1000, reason="Goodwill", actor=staff)
    code = services.redeem_reward(customer, make_reward("Spare", 100).pk).code
    make_reward("$5 off", 500)
    lines = [(mug.product_id, Decimal("40.00"))]
    # The program's configuration is cached from the first use on.
    services.estimate_basket(lines, discount=Decimal(0), shipping=Decimal(0), tax=Decimal(0), tier=None)

    with django_assert_max_num_queries(2):
        offer = services.checkout_offer(customer, lines, discount=Decimal(0), shipping=Decimal("4.99"), tax=Decimal(0))

    assert offer is not None
    assert (offer.points, offer.balance, offer.codes) == (40, 900, [code])
    assert [option.reward.name for option in offer.rewards] == ["Spare", "$5 off"]


def test_a_reward_is_redeemed_and_applied_in_one_click(
    signed_in: Client, customer: User, staff: User, mug: Variant
) -> None:
    services.adjust_points(customer.pk, 600, reason="Goodwill", actor=staff)
    reward = make_reward()
    _cart(signed_in, mug, 2)
    assert f'name="loyalty_reward" value="{reward.pk}"' in signed_in.get("/checkout/").content.decode()

    summary = signed_in.post("/checkout/totals/", {**CHECKOUT, "loyalty_reward": str(reward.pk)}, **HTMX)

    code = DiscountCode.objects.get(user=customer)
    html = summary.content.decode()
    assert f'name="discount_code" type="text" value="{code.code}"' in html
    assert "$5 off applied." in text(summary)
    assert '<dd data-total="discount">\N{MINUS SIGN}$5.00</dd>' in html
    assert balance(customer) == (100, 0)


def test_a_code_already_redeemed_is_applied_in_one_click(
    signed_in: Client, customer: User, staff: User, mug: Variant
) -> None:
    services.adjust_points(customer.pk, 500, reason="Goodwill", actor=staff)
    code = services.redeem_reward(customer, make_reward().pk).code
    _cart(signed_in, mug, 2)
    assert f'name="loyalty_code" value="{code.code}"' in signed_in.get("/checkout/").content.decode()

    summary = signed_in.post("/checkout/totals/", {**CHECKOUT, "loyalty_code": code.code}, **HTMX)

    assert '<dd data-total="discount">\N{MINUS SIGN}$5.00</dd>' in summary.content.decode()
    assert PointsEntry.objects.filter(user=customer, kind=EntryKind.REDEEMED).count() == 1


def test_a_refused_one_click_reward_is_shown_beside_the_code(signed_in: Client, customer: User, mug: Variant) -> None:
    reward = make_reward()
    _cart(signed_in, mug)

    summary = signed_in.post("/checkout/totals/", {**CHECKOUT, "loyalty_reward": str(reward.pk)}, **HTMX)

    assert "This reward needs 500 points; you have 0." in text(summary)
    assert not DiscountCode.objects.exists()


def test_the_free_shipping_perk_is_applied_in_one_click(signed_in: Client, customer: User, mug: Variant) -> None:
    make_tier("Gold", 0, free_shipping=True)
    services.refresh_tier(customer.pk)
    _cart(signed_in, mug)
    assert 'name="loyalty_perk" value="free_shipping"' in signed_in.get("/checkout/").content.decode()

    summary = signed_in.post("/checkout/totals/", {**CHECKOUT, "loyalty_perk": "free_shipping"}, **HTMX)

    assert '<dd data-total="shipping">Free</dd>' in summary.content.decode()


# --- Sign-up with a referral code, birthday -----------------------------------------------------------------


def test_an_invitation_link_fills_the_referral_code_and_sign_up_records_it(
    client: Client,
    customer: User,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = services.account_for(customer).referral_code
    form = client.get(f"/account/register/?ref={code}")
    assert f'value="{code}"' in form.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/register/",
            {
                "name": "Bob",
                "email": "bob@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "referral_code": code,
            },
        )

    assert response.status_code == 302
    referral = Referral.objects.get()
    assert (referral.referrer, referral.referred.email) == (customer, "bob@example.com")


def test_sign_up_over_the_api_takes_a_referral_code(
    client: Client,
    customer: User,
    immediate_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = services.account_for(customer).referral_code
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/auth/register",
            {"email": "bob@example.com", "password": PASSWORD, "referral_code": code},
            content_type="application/json",
        )

    assert response.status_code == 201
    assert Referral.objects.get().referrer == customer


def test_the_birthday_is_a_preference_on_the_web_and_in_the_api(
    signed_in: Client, client: Client, customer: User
) -> None:
    response = signed_in.post("/account/preferences/", {"birthday": "1990-06-15"})
    assert response.status_code == 302
    assert Preferences.objects.get(user=customer).birthday == date(1990, 6, 15)

    future = signed_in.post("/account/preferences/", {"birthday": "2999-01-01"})
    assert "Enter a date in the past." in text(future)

    api = Client()
    kept = api.put(
        "/api/auth/me/preferences", {"channels": ["email"]}, content_type="application/json", **bearer(customer)
    )
    assert kept.json()["birthday"] == "1990-06-15"
    forgotten = api.put(
        "/api/auth/me/preferences", {"birthday": None}, content_type="application/json", **bearer(customer)
    )
    assert forgotten.json()["birthday"] is None


# --- Back-office --------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(make_user("boss@example.com", is_staff=True, is_superuser=True))
    return client


def test_the_program_settings_page_installs_a_starter_program(admin_client: Client) -> None:
    page = admin_client.get("/admin/loyalty/loyaltyprogram/", follow=True)
    assert page.status_code == 200
    assert "Add starter tiers, rules and rewards" in page.content.decode()

    admin_client.post("/admin/loyalty/loyaltyprogram/starter/")

    assert list(Tier.objects.values_list("name", flat=True)) == ["Bronze", "Silver", "Gold"]
    assert EarningRule.objects.filter(kind=RuleKind.SPEND, points=1).exists()
    assert Reward.objects.count() == 3
    assert "Add starter tiers" not in admin_client.get("/admin/loyalty/loyaltyprogram/1/change/").content.decode()


def test_the_merchant_edits_settings_rules_tiers_and_rewards(admin_client: Client, mug: Variant) -> None:
    settings_page = admin_client.get("/admin/loyalty/loyaltyprogram/1/change/")
    assert settings_page.status_code == 200
    for url in ("/admin/loyalty/earningrule/add/", "/admin/loyalty/tier/add/", "/admin/loyalty/reward/add/"):
        assert admin_client.get(url).status_code == 200

    response = admin_client.post(
        "/admin/loyalty/earningrule/add/",
        {
            "name": "Double mugs",
            "kind": RuleKind.MULTIPLIER,
            "is_active": "on",
            "points": "0",
            "multiplier": "2",
            "product": mug.product_id,
        },
    )
    assert response.status_code == 302
    refused = admin_client.post(
        "/admin/loyalty/earningrule/add/",
        {"name": "Bad", "kind": RuleKind.SIGNUP, "points": "10", "multiplier": "1", "product": mug.product_id},
    )
    assert "Only a multiplier applies to a product or a category." in refused.content.decode()


def test_staff_adjust_a_customers_points_with_a_reason(admin_client: Client, customer: User) -> None:
    account = services.account_for(customer)
    page = admin_client.get(f"/admin/loyalty/loyaltypoints/{account.pk}/change/")
    assert "Add or remove points" in page.content.decode()

    admin_client.post(f"/admin/loyalty/loyaltypoints/{account.pk}/adjust/", {"points": "40", "reason": "Late parcel"})
    refused = admin_client.post(
        f"/admin/loyalty/loyaltypoints/{account.pk}/adjust/", {"points": "-100", "reason": "Oops"}
    )

    assert "at most that many can be removed" in refused.content.decode()
    entry = PointsEntry.objects.get(user=customer)
    assert (entry.points, entry.description, entry.actor.email if entry.actor else None) == (
        40,
        "Late parcel",
        "boss@example.com",
    )
    ledger = admin_client.get(f"/admin/loyalty/loyaltypoints/{account.pk}/change/").content.decode()
    assert "<td>+40</td><td>+0</td><td>Late parcel</td>" in ledger


def test_the_liability_report(admin_client: Client, customer: User, staff: User, mug: Variant, clock: datetime) -> None:
    program(point_value=Decimal("0.02"))
    make_rule(RuleKind.SPEND, 1)
    buy(customer, (mug, 2), now=clock)
    services.adjust_points(make_user("bob@example.com").pk, 250, reason="Goodwill", actor=staff)

    report = services.liability_report()
    assert (report.points, report.pending, report.value, report.pending_value, report.customers) == (
        250,
        40,
        Decimal("5.00"),
        Decimal("0.80"),
        2,
    )
    page = admin_client.get("/admin/loyalty/loyaltyprogram/liability/").content.decode()
    assert '<td data-liability="points">250</td><td data-liability="value">5.00</td>' in page
    assert LoyaltyPoints.objects.count() == 2


def test_rules_deleted_in_the_back_office_stop_earning_at_once(admin_client: Client, mug: Variant) -> None:
    rule = make_rule(RuleKind.SPEND, 1)
    assert services.estimate_product(mug.product_id, None) is not None  # now in the cached configuration

    admin_client.post(
        "/admin/loyalty/earningrule/", {"action": "delete_selected", "_selected_action": [rule.pk], "post": "yes"}
    )

    assert not EarningRule.objects.exists()
    assert services.estimate_product(mug.product_id, None) is None
