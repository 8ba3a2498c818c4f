"""The back-office for price rules: discount codes with their uses, shipping methods and tax rates."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from patron.accounts.testing import make_user
from patron.orders.models import Order, OrderStatus
from patron.pricing.models import DiscountCode, DiscountKind, ShippingMethod, TaxRate
from tests.order_factories import redeem_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    return client


def _code_form(code: str, **fields: str) -> dict[str, str]:
    return {
        "code": code,
        "kind": "percent",
        "value": "10",
        "min_subtotal": "0",
        "is_active": "on",
        "note": "",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "max_uses": "",
        "max_uses_per_customer": "",
        "user": "",
        "redemptions-TOTAL_FORMS": "0",
        "redemptions-INITIAL_FORMS": "0",
        "redemptions-MIN_NUM_FORMS": "0",
        "redemptions-MAX_NUM_FORMS": "1000",
    } | fields


def test_codes_list_their_uses_and_are_found_by_code(staff_client: Client) -> None:
    summer = DiscountCode.objects.create(code="SUMMER", kind=DiscountKind.PERCENT, value=Decimal("10"))
    DiscountCode.objects.create(code="WINTER", kind=DiscountKind.FIXED, value=Decimal("5"), is_active=False)
    for number, status in (("A1", OrderStatus.PAID), ("A2", OrderStatus.CANCELLED)):
        order = Order.objects.create(number=number, email="ada@example.com", status=status)
        redeem_code("SUMMER", order_id=order.pk, subtotal=Decimal("30"), user=None, email=order.email)

    found = staff_client.get("/admin/pricing/discountcode/", {"q": "summ"})
    assert found.status_code == 200
    [listed] = found.context["cl"].result_list
    assert (listed.code, listed.use_count) == ("SUMMER", 1)  # the cancelled order's use was given back

    inactive = staff_client.get("/admin/pricing/discountcode/", {"is_active__exact": "0"})
    assert [code.code for code in inactive.context["cl"].result_list] == ["WINTER"]
    fixed = staff_client.get("/admin/pricing/discountcode/", {"kind__exact": "fixed"})
    assert [code.code for code in fixed.context["cl"].result_list] == ["WINTER"]

    page = staff_client.get(f"/admin/pricing/discountcode/{summer.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "A1" in content
    assert "A2" in content
    assert 'name="redemptions-0-amount"' not in content  # the ledger is read-only


def test_a_code_added_in_any_case_is_stored_in_capitals_and_unique(staff_client: Client) -> None:
    response = staff_client.post("/admin/pricing/discountcode/add/", _code_form("welcome5"))
    assert response.status_code == 302
    assert DiscountCode.objects.get().code == "WELCOME5"

    clash = staff_client.post("/admin/pricing/discountcode/add/", _code_form("Welcome5"))
    assert clash.status_code == 200
    assert "already exists" in clash.content.decode()
    assert DiscountCode.objects.count() == 1


def test_a_percentage_above_100_is_refused_in_the_form(staff_client: Client) -> None:
    response = staff_client.post("/admin/pricing/discountcode/add/", _code_form("HUGE", value="150"))
    assert response.status_code == 200
    assert not DiscountCode.objects.exists()


def test_shipping_methods_and_tax_rates_are_editable(staff_client: Client) -> None:
    assert staff_client.get("/admin/pricing/shippingmethod/").status_code == 200
    response = staff_client.post(
        "/admin/pricing/shippingmethod/add/",
        {
            "code": "pickup",
            "name": "Pick up in store",
            "price": "0",
            "free_over": "",
            "countries": '["gb"]',
            "min_days": "0",
            "max_days": "1",
            "position": "5",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert ShippingMethod.objects.get(code="pickup").countries == ["GB"]

    bad = staff_client.post(
        "/admin/pricing/shippingmethod/add/",
        {"code": "odd", "name": "Odd", "price": "1", "countries": '"everywhere"', "min_days": "1", "max_days": "2"},
    )
    assert bad.status_code == 200
    assert "two-letter country codes" in bad.content.decode()

    assert staff_client.get("/admin/pricing/taxrate/").status_code == 200
    response = staff_client.post(
        "/admin/pricing/taxrate/add/", {"country": "fr", "region": "", "rate": "0.2", "name": "TVA"}
    )
    assert response.status_code == 302
    assert TaxRate.objects.get(country="FR").rate == Decimal("0.2")
    duplicate = staff_client.post(
        "/admin/pricing/taxrate/add/", {"country": "FR", "region": "", "rate": "0.1", "name": "TVA"}
    )
    assert duplicate.status_code == 200
    assert TaxRate.objects.filter(country="FR").count() == 1
