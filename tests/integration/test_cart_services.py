"""Cart services against the real database: stock checks, guest and customer carts, merging, current prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.cart import services
from patron.cart.models import Cart, CartLine
from patron.catalog.models import Product, Variant
from patron.errors import NotFound, ValidationFailed
from patron.pricing.models import ShippingMethod
from patron.pricing.services import Quote, issue_discount_code
from tests.factories import make_product

pytestmark = pytest.mark.django_db


def variant_of(product: Product, position: int = 0) -> Variant:
    return product.variants.order_by("position")[position]


@pytest.fixture
def mug() -> Variant:
    return variant_of(make_product("Mug", price="12.50", stock=3))


@pytest.fixture
def shirt() -> Product:
    return make_product("Shirt", price="20.00", stock=10, options=[{"size": "S"}, {"size": "M"}])


@pytest.fixture
def guest() -> Cart:
    cart = services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    return cart


@pytest.fixture
def customer() -> User:
    return make_user()


def quote_of(view: services.CartView) -> Quote:
    assert view.quote is not None, view.pricing_problem
    return view.quote


def quantities(cart: Cart) -> dict[int, int]:
    return dict(CartLine.objects.filter(cart=cart).values_list("variant_id", "quantity"))


# Finding carts ------------------------------------------------------------------------------------------------


def test_guest_carts_have_unguessable_unique_tokens(guest: Cart) -> None:
    other = services.get_cart(user=None, token=None, create=True)
    assert other is not None and other.token != guest.token
    assert len(guest.token) >= 40
    assert services.get_cart(user=None, token=guest.token, create=False) == guest


def test_unknown_token_finds_nothing_and_is_not_reused(guest: Cart) -> None:
    assert services.get_cart(user=None, token="made-up", create=False) is None
    assert services.get_cart(user=None, token="x" * 500, create=False) is None
    fresh = services.get_cart(user=None, token="made-up", create=True)
    assert fresh is not None and fresh.token != "made-up"


def test_a_customer_cart_is_never_reached_by_its_token(customer: User) -> None:
    own = services.get_cart(user=customer, token=None, create=True)
    assert own is not None
    assert services.get_cart(user=customer, token=None, create=True) == own
    assert services.get_cart(user=None, token=own.token, create=False) is None


# Adding and changing lines ------------------------------------------------------------------------------------


def test_adding_the_same_variant_twice_adds_up(guest: Cart, mug: Variant) -> None:
    first = services.add_item(guest, mug.pk, 1)
    second = services.add_item(guest, mug.pk, 2)
    assert first.pk == second.pk
    assert quantities(guest) == {mug.pk: 3}


def test_adding_more_than_the_stock_says_how_many_are_left(guest: Cart, mug: Variant) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.add_item(guest, mug.pk, 4)
    assert error.value.message == "Only 3 left in stock."
    assert error.value.fields == {"quantity": ["Only 3 left in stock."]}

    services.add_item(guest, mug.pk, 2)
    with pytest.raises(ValidationFailed) as error:
        services.add_item(guest, mug.pk, 2)
    assert error.value.message == "Only 3 left in stock (2 already in your cart)."
    assert quantities(guest) == {mug.pk: 2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stock": 0}, "This item is out of stock."),
        ({"is_active": False}, "This product is no longer available."),
    ],
)
def test_unbuyable_variants_are_refused(guest: Cart, mug: Variant, change: dict[str, Any], message: str) -> None:
    Variant.objects.filter(pk=mug.pk).update(**change)
    with pytest.raises(ValidationFailed) as error:
        services.add_item(guest, mug.pk, 1)
    assert error.value.message == message
    assert quantities(guest) == {}


def test_inactive_products_and_unknown_variants_are_refused(guest: Cart, mug: Variant) -> None:
    Product.objects.filter(pk=mug.product_id).update(is_active=False)
    for variant_id in (mug.pk, 987654):
        with pytest.raises(ValidationFailed, match="no longer available"):
            services.add_item(guest, variant_id, 1)


@pytest.mark.parametrize("quantity", [0, -1])
def test_adding_needs_a_positive_quantity(guest: Cart, mug: Variant, quantity: int) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.add_item(guest, mug.pk, quantity)
    assert "quantity" in error.value.fields


def test_set_quantity_changes_checks_stock_and_zero_removes(guest: Cart, mug: Variant) -> None:
    line = services.add_item(guest, mug.pk, 1)
    changed = services.set_quantity(guest, line.pk, 3)
    assert changed is not None and changed.quantity == 3
    with pytest.raises(ValidationFailed, match="Only 3 left in stock"):
        services.set_quantity(guest, line.pk, 4)
    with pytest.raises(ValidationFailed):
        services.set_quantity(guest, line.pk, -2)
    assert services.set_quantity(guest, line.pk, 0) is None
    assert quantities(guest) == {}


def test_lines_of_another_cart_are_not_found(guest: Cart, customer: User, mug: Variant) -> None:
    theirs = services.get_cart(user=customer, token=None, create=True)
    assert theirs is not None
    line = services.add_item(theirs, mug.pk, 1)
    with pytest.raises(NotFound):
        services.set_quantity(guest, line.pk, 2)
    with pytest.raises(NotFound):
        services.remove_line(guest, line.pk)
    assert quantities(theirs) == {mug.pk: 1}


def test_remove_and_clear(guest: Cart, mug: Variant, shirt: Product) -> None:
    line = services.add_item(guest, mug.pk, 1)
    services.add_item(guest, variant_of(shirt).pk, 1)
    services.remove_line(guest, line.pk)
    assert quantities(guest) == {variant_of(shirt).pk: 1}
    services.clear_cart(guest)
    assert quantities(guest) == {}


def test_resolve_variant_matches_the_chosen_options(shirt: Product, mug: Variant) -> None:
    assert services.resolve_variant(shirt.pk, {"size": "M"}) == variant_of(shirt, 1).pk
    assert services.resolve_variant(mug.product_id, {}) == mug.pk
    with pytest.raises(ValidationFailed, match="combination is not available"):
        services.resolve_variant(shirt.pk, {"size": "XL"})
    with pytest.raises(ValidationFailed, match="no longer available"):
        services.resolve_variant(987654, {})


# Merging on sign-in -------------------------------------------------------------------------------------------


def test_merge_adds_quantities_up_capped_at_stock(guest: Cart, customer: User, mug: Variant, shirt: Product) -> None:
    small, medium = variant_of(shirt, 0), variant_of(shirt, 1)
    own = services.get_cart(user=customer, token=None, create=True)
    assert own is not None
    services.add_item(own, mug.pk, 2)
    services.add_item(own, small.pk, 1)
    services.add_item(guest, mug.pk, 2)
    services.add_item(guest, small.pk, 2)
    services.add_item(guest, medium.pk, 4)

    merged = services.merge_guest_cart(guest, customer)

    assert merged == own
    assert quantities(own) == {mug.pk: 3, small.pk: 3, medium.pk: 4}
    assert not Cart.objects.filter(pk=guest.pk).exists()


def test_merge_keeps_a_sold_out_line_so_that_the_cart_can_flag_it(guest: Cart, customer: User, mug: Variant) -> None:
    services.add_item(guest, mug.pk, 2)
    Variant.objects.filter(pk=mug.pk).update(stock=0)
    merged = services.merge_guest_cart(guest, customer)
    assert quantities(merged) == {mug.pk: 2}
    view = services.view_cart(merged, user=customer)
    assert view.items[0].problem == "This item is out of stock."


def test_merge_by_token_creates_the_customer_cart_and_ignores_unknown_tokens(
    guest: Cart, customer: User, mug: Variant
) -> None:
    services.add_item(guest, mug.pk, 1)
    assert services.merge_guest_token("unknown", customer) is None
    assert services.merge_guest_token(None, customer) is None
    merged = services.merge_guest_token(guest.token, customer)
    assert merged is not None and merged.user == customer
    assert quantities(merged) == {mug.pk: 1}
    # Replaying the sign-in changes nothing: the guest cart is gone.
    assert services.merge_guest_token(guest.token, customer) is None
    assert quantities(merged) == {mug.pk: 1}


# The priced view ----------------------------------------------------------------------------------------------


def test_view_shows_current_prices_and_totals_from_pricing(guest: Cart, mug: Variant, shirt: Product) -> None:
    services.add_item(guest, mug.pk, 2)
    services.add_item(guest, variant_of(shirt).pk, 1)
    Variant.objects.filter(pk=mug.pk).update(price=Decimal("11.00"))

    view = services.view_cart(guest)

    assert [(item.unit_price, item.quantity, item.line_total) for item in view.items] == [
        (Decimal("11.00"), 2, Decimal("22.00")),
        (Decimal("20.00"), 1, Decimal("20.00")),
    ]
    assert view.item_count == 3
    assert quote_of(view).subtotal == Decimal("42.00")
    # The default standard rate applies below its free-shipping threshold; no tax without an address.
    assert quote_of(view).shipping_method == "standard"
    assert quote_of(view).shipping == Decimal("4.99")
    assert quote_of(view).tax == Decimal("0.00")
    assert quote_of(view).total == Decimal("46.99")
    assert view.can_check_out and view.problems == []
    assert view.token == guest.token


def test_view_applies_shipping_choice_tax_and_discount(guest: Cart, customer: User, mug: Variant) -> None:
    services.add_item(guest, mug.pk, 2)
    code = issue_discount_code(kind="fixed", value=Decimal("5.00"))
    view = services.view_cart(
        guest, shipping_method="express", country="US", region="CA", discount_code=code.code, email="a@example.com"
    )
    totals = quote_of(view)
    assert (totals.subtotal, totals.discount, totals.shipping) == (Decimal("25.00"), Decimal("5.00"), Decimal("14.99"))
    assert totals.tax == Decimal("1.45")  # 7.25 % of the discounted 20.00, shipping untaxed in California
    assert totals.total == Decimal("36.44")
    assert totals.discount_code == code.code


def test_view_refuses_a_bad_discount_code_on_its_field(guest: Cart, mug: Variant) -> None:
    services.add_item(guest, mug.pk, 1)
    with pytest.raises(ValidationFailed) as error:
        services.view_cart(guest, discount_code="NOPE")
    assert "discount_code" in error.value.fields


def test_view_flags_lines_that_can_no_longer_be_bought(guest: Cart, mug: Variant, shirt: Product) -> None:
    small, medium = variant_of(shirt, 0), variant_of(shirt, 1)
    services.add_item(guest, mug.pk, 3)
    services.add_item(guest, small.pk, 1)
    services.add_item(guest, medium.pk, 1)
    Variant.objects.filter(pk=mug.pk).update(stock=2)
    Variant.objects.filter(pk=small.pk).update(is_active=False)
    Variant.objects.filter(pk=medium.pk).update(stock=0)

    view = services.view_cart(guest)

    assert [(item.available, item.problem) for item in view.items] == [
        (True, "Only 2 left in stock; please lower the quantity."),
        (False, "This product is no longer available."),
        (False, "This item is out of stock."),
    ]
    # Only what can be bought is priced; the shopper must fix the rest before checking out.
    assert quote_of(view).subtotal == Decimal("37.50")
    assert not view.can_check_out
    assert view.problems[0] == "Mug: Only 2 left in stock; please lower the quantity."


def test_view_of_no_cart_is_empty_and_free() -> None:
    view = services.view_cart(None)
    assert view.items == [] and view.item_count == 0 and view.token is None
    assert quote_of(view).total == Decimal("0.00")
    assert not view.can_check_out


def test_customer_cart_view_has_no_token(customer: User, mug: Variant) -> None:
    own = services.get_cart(user=customer, token=None, create=True)
    assert own is not None
    services.add_item(own, mug.pk, 1)
    assert services.view_cart(own, user=customer).token is None


def test_view_runs_a_bounded_number_of_queries(guest: Cart, django_assert_max_num_queries: Any) -> None:
    for number in range(25):
        product = make_product(f"Thing {number}", price="3.00", stock=9, options=[{"size": "S"}, {"size": "L"}])
        services.add_item(guest, variant_of(product, number % 2).pk, 1)
    with django_assert_max_num_queries(4):
        view = services.view_cart(guest, country="US")
    assert len(view.items) == 25
    assert quote_of(view).subtotal == Decimal("75.00")


def test_without_any_shipping_method_the_cart_still_shows_and_says_why(guest: Cart, mug: Variant) -> None:
    services.add_item(guest, mug.pk, 1)
    ShippingMethod.objects.update(is_active=False)
    view = services.view_cart(guest)
    assert view.quote is None and view.pricing_problem
    assert [item.quantity for item in view.items] == [1]
    assert not view.can_check_out
    # A country the shopper chose is theirs to change: that refusal names the field.
    with pytest.raises(ValidationFailed) as error:
        services.view_cart(guest, country="US")
    assert "country" in error.value.fields
