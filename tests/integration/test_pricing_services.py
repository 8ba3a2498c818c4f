"""Pricing rules: discount codes and their limits, shipping rates, tax rates and the totals of a quote."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import count
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.errors import ValidationFailed
from patron.orders.models import Order, OrderStatus
from patron.pricing.models import DiscountCode, DiscountKind, DiscountRedemption, ShippingMethod, TaxRate
from patron.pricing.services import (
    QuoteLine,
    ShippingOption,
    check_discount,
    issue_discount_code,
    quote,
    shipping_options,
    tax_rate_for,
)
from tests.factories import make_product
from tests.order_factories import redeem_code

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
_numbers = count(1)


def make_code(code: str = "SAVE10", **fields: Any) -> DiscountCode:
    values: dict[str, Any] = {"kind": DiscountKind.PERCENT, "value": Decimal("10")} | fields
    return DiscountCode.objects.create(code=code, **values)


def make_order(email: str = "guest@example.com", user: User | None = None, status: str = "") -> Order:
    return Order.objects.create(
        number=f"P{next(_numbers):06d}", email=email, user=user, status=status or OrderStatus.PENDING_PAYMENT
    )


def redeem(code: str, *, email: str = "guest@example.com", user: User | None = None, subtotal: str = "100.00") -> Any:
    """A checkout placing a new order with `code`; a refusal rolls its transaction back."""
    order = make_order(email, user)
    with transaction.atomic():
        return redeem_code(code, order_id=order.pk, subtotal=Decimal(subtotal), user=user, email=email, now=NOW)


def refusal(call: Callable[[], object], field: str = "discount_code") -> str:
    with pytest.raises(ValidationFailed) as caught:
        call()
    assert caught.value.status == 422
    assert list(caught.value.fields) == [field]
    return caught.value.fields[field][0]


def check(code: str, subtotal: str = "100.00", **kwargs: Any) -> DiscountCode:
    kwargs.setdefault("user", None)
    kwargs.setdefault("email", None)
    kwargs.setdefault("now", NOW)
    return check_discount(code, subtotal=Decimal(subtotal), **kwargs)


@pytest.fixture
def shipping() -> Iterator[None]:
    """A known set of shipping methods instead of the merchant's defaults."""
    ShippingMethod.objects.all().delete()
    ShippingMethod.objects.create(
        code="standard", name="Standard", price=Decimal("4.99"), free_over=Decimal("50.00"), min_days=3, max_days=5
    )
    ShippingMethod.objects.create(
        code="express", name="Express", price=Decimal("14.99"), min_days=1, max_days=2, position=1
    )
    ShippingMethod.objects.create(
        code="courier", name="Courier", price=Decimal("9.00"), countries=["gb", "DE"], min_days=1, max_days=1
    )
    yield


def lines(*prices_and_quantities: tuple[str, int]) -> list[QuoteLine]:
    return [
        QuoteLine(variant_id=index, unit_price=Decimal(price), quantity=quantity)
        for index, (price, quantity) in enumerate(prices_and_quantities, start=1)
    ]


# Discount codes


def test_codes_match_in_any_case_and_are_stored_in_capitals() -> None:
    make_code(" summer ")
    assert DiscountCode.objects.get().code == "SUMMER"
    assert check("Summer").code == "SUMMER"


def test_unknown_blank_and_inactive_codes_are_not_valid() -> None:
    make_code("OFF", is_active=False)
    for typed in ("NOPE", "  ", "off"):
        assert refusal(partial(check, typed)) == "This code is not valid."


def test_validity_window_follows_now() -> None:
    make_code(starts_at=NOW, ends_at=NOW + timedelta(days=7))
    assert "valid from June 15, 2026" in refusal(lambda: check("SAVE10", now=NOW - timedelta(seconds=1)))
    assert check("SAVE10", now=NOW).code == "SAVE10"
    assert check("SAVE10", now=NOW + timedelta(days=7, seconds=-1)).code == "SAVE10"
    assert refusal(lambda: check("SAVE10", now=NOW + timedelta(days=7))) == "This code has expired."


def test_minimum_subtotal_says_how_much_is_missing() -> None:
    make_code(min_subtotal=Decimal("50.00"))
    message = refusal(lambda: check("SAVE10", subtotal="42.50"))
    assert message == "This code needs a subtotal of at least 50.00 USD; add 7.50 more to use it."
    assert check("SAVE10", subtotal="50.00").code == "SAVE10"


def test_max_uses_counts_redemptions_across_customers() -> None:
    make_code(max_uses=2)
    redeem("SAVE10", email="a@example.com")
    redeem("save10", email="b@example.com")
    assert refusal(lambda: check("SAVE10", email="c@example.com")) == "This code has already been used up."
    assert refusal(lambda: redeem("SAVE10", email="c@example.com")) == "This code has already been used up."
    assert DiscountRedemption.objects.count() == 2


def test_per_customer_limit_tells_guests_apart_by_email() -> None:
    make_code(max_uses_per_customer=1)
    redeem("SAVE10", email="Guest@Example.com")
    assert refusal(lambda: check("SAVE10", email="guest@example.COM")) == "You have already used this code."
    assert refusal(lambda: redeem("SAVE10", email="guest@example.com")) == "You have already used this code."
    assert check("SAVE10", email="other@example.com").code == "SAVE10"
    # Before the shopper is known only the other rules apply; placing the order checks again.
    assert check("SAVE10").code == "SAVE10"


def test_per_customer_limit_counts_a_signed_in_customers_guest_uses_too() -> None:
    ada = make_user("ada@example.com")
    make_code(max_uses_per_customer=2)
    redeem("SAVE10", email="ada@example.com")
    redeem("SAVE10", email="ada-work@example.com", user=ada)
    message = refusal(lambda: check("SAVE10", user=ada, email="ada@example.com"))
    assert message == "You have already used this code 2 times, its limit."
    grace = make_user("grace@example.com")
    assert check("SAVE10", user=grace, email="grace@example.com").code == "SAVE10"


def test_a_cancelled_order_gives_its_use_back() -> None:
    make_code(max_uses=1)
    redemption = redeem("SAVE10")
    assert refusal(lambda: check("SAVE10")) == "This code has already been used up."
    Order.objects.filter(pk=redemption.order_id).update(status=OrderStatus.CANCELLED)
    assert check("SAVE10").code == "SAVE10"


def test_redemption_records_the_amount_and_the_customer() -> None:
    ada = make_user("ada@example.com")
    make_code(kind=DiscountKind.FIXED, value=Decimal("15.00"))
    order = make_order("ada@example.com", ada)
    redemption = redeem_code(
        "save10", order_id=order.pk, subtotal=Decimal("12.40"), user=ada, email=" ADA@example.com", now=NOW
    )
    assert (redemption.amount, redemption.email, redemption.user, redemption.redeemed_at) == (
        Decimal("12.40"),
        "ada@example.com",
        ada,
        NOW,
    )
    assert redemption.order == order


def test_an_order_records_one_code_at_most() -> None:
    make_code()
    make_code("OTHER")
    order = make_order()
    redeem_code("SAVE10", order_id=order.pk, subtotal=Decimal("80"), user=None, email=order.email, now=NOW)
    with pytest.raises(IntegrityError):
        redeem_code("OTHER", order_id=order.pk, subtotal=Decimal("80"), user=None, email=order.email, now=NOW)
    assert list(DiscountRedemption.objects.values_list("code__code", flat=True)) == ["SAVE10"]


def test_redemption_rechecks_dates_and_minimum() -> None:
    make_code(ends_at=NOW, min_subtotal=Decimal("30"))
    assert refusal(lambda: redeem("SAVE10")) == "This code has expired."
    DiscountCode.objects.update(ends_at=None)
    assert refusal(lambda: redeem("SAVE10", subtotal="29.99")).startswith("This code needs a subtotal")


# Codes issued by other parts of the store (loyalty rewards)


def test_issued_code_is_single_use_and_expires() -> None:
    before = timezone.now()
    issued = issue_discount_code(
        kind=DiscountKind.FIXED, value=Decimal("5"), prefix="reward", valid_for=timedelta(days=30), note="loyalty"
    )
    assert issued.code.startswith("REWARD-")
    assert len(issued.code) == len("REWARD-") + 10
    assert issued.starts_at is not None
    assert issued.ends_at is not None
    assert before <= issued.starts_at <= timezone.now()
    assert issued.ends_at - issued.starts_at == timedelta(days=30)
    assert (issued.max_uses, issued.max_uses_per_customer, issued.value, issued.note) == (
        1,
        1,
        Decimal("5.00"),
        "loyalty",
    )

    now = issued.starts_at + timedelta(days=1)
    order = make_order()
    redeem_code(issued.code, order_id=order.pk, subtotal=Decimal("20"), user=None, email=order.email, now=now)
    message = refusal(lambda: check(issued.code, email="someone@example.com", now=now))
    assert message == "This code has already been used up."

    unused = issue_discount_code(kind=DiscountKind.PERCENT, value=Decimal("10"), valid_for=timedelta(days=30))
    late = issued.starts_at + timedelta(days=30, seconds=1)
    assert refusal(lambda: check(unused.code, now=late)) == "This code has expired."


def test_issued_codes_are_all_different() -> None:
    codes = {issue_discount_code(kind=DiscountKind.PERCENT, value=Decimal("5")).code for _ in range(20)}
    assert len(codes) == 20


def test_a_code_issued_to_a_customer_works_only_for_them() -> None:
    ada = make_user("ada@example.com")
    grace = make_user("grace@example.com")
    issued = issue_discount_code(kind=DiscountKind.PERCENT, value=Decimal("20"), user=ada, max_uses=None)
    now = timezone.now()
    assert check(issued.code, user=ada, email=ada.email, now=now).pk == issued.pk
    assert "sign in" in refusal(lambda: check(issued.code, user=grace, email=grace.email, now=now))
    assert "sign in" in refusal(lambda: check(issued.code, email=ada.email, now=now))


@pytest.mark.parametrize(("kind", "value"), [("percent", "0"), ("percent", "100.01"), ("fixed", "-1"), ("gift", "5")])
def test_issuing_refuses_impossible_discounts(kind: str, value: str) -> None:
    with pytest.raises(ValidationFailed):
        issue_discount_code(kind=kind, value=Decimal(value))
    assert not DiscountCode.objects.exists()


# Shipping


def test_default_methods_from_the_migration() -> None:
    defaults = {method.code: method for method in ShippingMethod.objects.all()}
    assert set(defaults) == {"standard", "express"}
    standard, express = defaults["standard"], defaults["express"]
    assert (standard.price, standard.free_over, standard.min_days, standard.max_days) == (
        Decimal("4.99"),
        Decimal("50.00"),
        3,
        5,
    )
    assert (express.price, express.free_over, express.min_days, express.max_days) == (Decimal("14.99"), None, 1, 2)


@pytest.mark.usefixtures("shipping")
def test_options_are_cheapest_first_and_free_over_the_threshold() -> None:
    assert shipping_options("US", Decimal("49.99")) == [
        ShippingOption(code="standard", name="Standard", price=Decimal("4.99"), min_days=3, max_days=5, free=False),
        ShippingOption(code="express", name="Express", price=Decimal("14.99"), min_days=1, max_days=2, free=False),
    ]
    standard = shipping_options("US", Decimal("50.00"))[0]
    assert (standard.code, standard.price, standard.free) == ("standard", Decimal("0.00"), True)


@pytest.mark.usefixtures("shipping")
def test_country_restrictions() -> None:
    assert [option.code for option in shipping_options("de", Decimal("10"))] == ["standard", "courier", "express"]
    assert [option.code for option in shipping_options("US", Decimal("10"))] == ["standard", "express"]
    # An estimate before the address is known lists every method.
    assert [option.code for option in shipping_options(None, Decimal("10"))] == ["standard", "courier", "express"]
    ShippingMethod.objects.filter(code="express").update(is_active=False)
    assert [option.code for option in shipping_options("US", Decimal("10"))] == ["standard"]


# Tax


def test_example_rates_from_the_migration() -> None:
    rates = {(rate.country, rate.region): rate.rate for rate in TaxRate.objects.all()}
    assert rates[("US", "CA")] == Decimal("0.0725")
    assert rates[("US", "NY")] == Decimal("0.08875")
    assert rates[("GB", "")] == Decimal("0.2")
    assert rates[("DE", "")] == Decimal("0.19")


def test_the_most_specific_rate_wins() -> None:
    TaxRate.objects.create(country="US", region="", rate=Decimal("0.05"), name="Federal example")
    assert tax_rate_for("us", "ca") == TaxRate.objects.get(country="US", region="CA")
    assert tax_rate_for("US", "TX") == TaxRate.objects.get(country="US", region="")
    assert tax_rate_for("US") == TaxRate.objects.get(country="US", region="")
    assert tax_rate_for("FR", "IDF") is None


# Quotes


@pytest.mark.usefixtures("shipping")
def test_quote_without_country_has_no_tax_and_the_cheapest_shipping() -> None:
    result = quote(lines(("12.50", 2), ("3.99", 1)))
    assert (result.subtotal, result.discount, result.shipping, result.tax, result.total) == (
        Decimal("28.99"),
        Decimal("0.00"),
        Decimal("4.99"),
        Decimal("0.00"),
        Decimal("33.98"),
    )
    assert (result.shipping_method, result.discount_code, result.tax_rate, result.currency) == (
        "standard",
        None,
        Decimal("0"),
        "USD",
    )
    assert [option.code for option in result.shipping_options] == ["standard", "courier", "express"]


@pytest.mark.usefixtures("shipping")
def test_quote_with_everything_adds_up() -> None:
    make_code("TENOFF", kind=DiscountKind.PERCENT, value=Decimal("10"))
    result = quote(
        lines(("19.99", 3)),
        shipping_method="express",
        country="US",
        region="NY",
        discount_code="tenoff",
        email="ada@example.com",
        now=NOW,
    )
    # 59.97 - 6.00 = 53.97; tax 8.875 % of 53.97 = 4.7898... -> 4.79 (US-NY does not tax shipping)
    assert (result.subtotal, result.discount, result.shipping, result.tax, result.total) == (
        Decimal("59.97"),
        Decimal("6.00"),
        Decimal("14.99"),
        Decimal("4.79"),
        Decimal("73.75"),
    )
    assert result.total == result.subtotal - result.discount + result.shipping + result.tax
    assert (result.discount_code, result.shipping_method, result.tax_rate) == ("TENOFF", "express", Decimal("0.08875"))


@pytest.mark.usefixtures("shipping")
def test_free_shipping_threshold_applies_after_the_discount() -> None:
    make_code("FIVE", kind=DiscountKind.FIXED, value=Decimal("5"))
    assert quote(lines(("52.00", 1))).shipping == Decimal("0.00")
    discounted = quote(lines(("52.00", 1)), discount_code="FIVE", now=NOW)
    assert (discounted.discount, discounted.shipping, discounted.total) == (
        Decimal("5.00"),
        Decimal("4.99"),
        Decimal("51.99"),
    )


@pytest.mark.usefixtures("shipping")
def test_a_free_shipping_code_waives_the_chosen_methods_price() -> None:
    issued = issue_discount_code(kind=DiscountKind.FREE_SHIPPING, max_uses=None, max_uses_per_customer=None)
    result = quote(lines(("20.00", 1)), shipping_method="express", country="US", discount_code=issued.code)
    assert (result.subtotal, result.discount, result.shipping, result.shipping_discount, result.total) == (
        Decimal("20.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("14.99"),
        Decimal("20.00"),
    )
    assert result.savings == Decimal("14.99")
    over_threshold = quote(lines(("60.00", 1)), discount_code=issued.code)
    assert (over_threshold.shipping, over_threshold.savings) == (Decimal("0.00"), Decimal("0.00"))


@pytest.mark.usefixtures("shipping")
def test_a_free_product_code_takes_one_unit_of_its_product_off() -> None:
    teapot = make_product("Teapot", price="24.00")
    issued = issue_discount_code(kind=DiscountKind.FREE_PRODUCT, product=teapot)
    basket = [
        QuoteLine(variant_id=1, unit_price=Decimal("30.00"), quantity=1, product_id=teapot.pk),
        QuoteLine(variant_id=2, unit_price=Decimal("24.00"), quantity=2, product_id=teapot.pk),
        QuoteLine(variant_id=3, unit_price=Decimal("5.00"), quantity=1, product_id=teapot.pk + 1),
    ]
    result = quote(basket, country="US", discount_code=issued.code)
    assert (result.subtotal, result.discount) == (Decimal("83.00"), Decimal("24.00"))  # its cheapest unit

    without = [QuoteLine(variant_id=3, unit_price=Decimal("5.00"), quantity=1, product_id=teapot.pk + 1)]
    message = refusal(lambda: quote(without, country="US", discount_code=issued.code))
    assert message == "This code gives one Teapot free: add it to your cart to use the code."


def test_free_codes_need_no_value_and_only_free_product_names_a_product() -> None:
    teapot = make_product("Teapot")
    free_shipping = issue_discount_code(kind=DiscountKind.FREE_SHIPPING)
    assert (free_shipping.value, free_shipping.product) == (Decimal("0.00"), None)
    for kind, product in ((DiscountKind.FREE_PRODUCT, None), (DiscountKind.FIXED, teapot)):
        with pytest.raises(ValidationFailed) as caught:
            issue_discount_code(kind=kind, value=Decimal("5"), product=product)
        assert list(caught.value.fields) == ["product"]
    with pytest.raises(IntegrityError), transaction.atomic():
        DiscountCode.objects.create(code="BROKEN", kind=DiscountKind.FREE_PRODUCT)


@pytest.mark.usefixtures("shipping")
def test_tax_on_shipping_where_the_rate_says_so() -> None:
    result = quote(lines(("10.00", 1)), country="GB", shipping_method="courier")
    # 20 % of (10.00 + 9.00)
    assert (result.shipping, result.tax, result.total) == (Decimal("9.00"), Decimal("3.80"), Decimal("22.80"))
    TaxRate.objects.filter(country="GB").update(applies_to_shipping=False)
    assert quote(lines(("10.00", 1)), country="GB", shipping_method="courier").tax == Decimal("2.00")


@pytest.mark.usefixtures("shipping")
def test_tax_rounds_half_up_to_cents() -> None:
    TaxRate.objects.create(country="NL", rate=Decimal("0.21"))
    ShippingMethod.objects.filter(code="standard").update(free_over=Decimal("1.00"))
    # 21 % of 2.50 = 0.525 -> 0.53
    result = quote(lines(("2.50", 1)), country="NL")
    assert (result.shipping, result.tax, result.total) == (Decimal("0.00"), Decimal("0.53"), Decimal("3.03"))


@pytest.mark.usefixtures("shipping")
def test_a_full_discount_leaves_shipping_and_no_negative_amounts() -> None:
    make_code("ALL", kind=DiscountKind.FIXED, value=Decimal("500"))
    result = quote(lines(("40.00", 1)), country="US", region="CA", discount_code="ALL", now=NOW)
    assert (result.discount, result.tax, result.shipping, result.total) == (
        Decimal("40.00"),
        Decimal("0.00"),
        Decimal("4.99"),
        Decimal("4.99"),
    )


@pytest.mark.usefixtures("shipping")
def test_quote_refusals_name_the_field_to_fix() -> None:
    basket = lines(("10.00", 1))
    assert refusal(lambda: quote(basket, discount_code="NOPE")) == "This code is not valid."
    message = refusal(lambda: quote(basket, country="US", shipping_method="courier"), field="shipping_method")
    assert message == "This shipping method is not available to US; please choose another."
    assert refusal(lambda: quote(basket, shipping_method="teleport"), field="shipping_method").startswith(
        "This shipping method is not available"
    )
    ShippingMethod.objects.exclude(code="courier").delete()
    assert refusal(lambda: quote(basket, country="US"), field="country") == "Sorry, we do not deliver to US yet."


@pytest.mark.usefixtures("shipping")
def test_an_empty_basket_costs_nothing() -> None:
    result = quote([], country="GB")
    assert (result.subtotal, result.shipping, result.tax, result.total, result.shipping_method) == (
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
        None,
    )
    assert result.shipping_options == []


@pytest.mark.usefixtures("shipping")
def test_quote_runs_a_fixed_number_of_queries(django_assert_max_num_queries: Callable[..., Any]) -> None:
    make_code(max_uses=100, max_uses_per_customer=1)
    basket = lines(*[(f"{price}.00", 1) for price in range(1, 60)])
    # The code, its use counts, the shipping methods, the tax rate.
    with django_assert_max_num_queries(4):
        result = quote(basket, country="US", region="CA", discount_code="SAVE10", email="ada@example.com", now=NOW)
    assert result.discount == Decimal("177.00")


def test_redeeming_runs_a_fixed_number_of_queries(django_assert_max_num_queries: Callable[..., Any]) -> None:
    make_code(max_uses=100, max_uses_per_customer=1)
    order = make_order()
    # Lock the code, count its uses, record the use; plus the savepoint around them in the test's transaction.
    with django_assert_max_num_queries(5):
        redemption = redeem_code(
            "SAVE10", order_id=order.pk, subtotal=Decimal("10"), user=None, email=order.email, now=NOW
        )
    assert redemption.amount == Decimal("1.00")


def test_a_refused_redemption_rolls_back_the_checkout() -> None:
    make_code(max_uses=1)
    redeem("SAVE10")
    order = make_order("late@example.com")
    with pytest.raises(ValidationFailed), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(discount=Decimal("10.00"))
        redeem_code("SAVE10", order_id=order.pk, subtotal=Decimal("100"), user=None, email=order.email, now=NOW)
    order.refresh_from_db()
    assert order.discount == Decimal("0.00")
    assert DiscountRedemption.objects.count() == 1
