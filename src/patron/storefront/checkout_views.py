"""The one-page checkout, its in-place totals, and the retry page after a declined card.

Nothing here is cached: every page carries a CSRF token, one shopper's cart, and a fresh idempotency key. The
key is rendered into each form, so a double submit of the same form places one order, while a corrected
resubmission after an error (a new form, a new key) is a new attempt. Placing and paying are the orders
service's; this module only turns form fields into its input and its refusals into inline errors.

With the Stripe provider the checkout places the order without card details; the pay page then mounts Stripe's
Payment Element for the payment's client secret, Stripe.js confirms it and returns to the confirmation page,
and Stripe's webhook marks the order paid.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from patron.accounts.models import Address, User
from patron.analytics import services as analytics
from patron.cart.models import Cart
from patron.cart.services import CartView, cart_for_request, view_cart
from patron.errors import DomainError, ValidationFailed
from patron.loyalty import services as loyalty
from patron.orders.models import Order, OrderStatus
from patron.orders.placement import (
    AddressInput,
    CheckoutInput,
    order_access_token,
    order_for_token,
    pay_order,
    place_order,
)
from patron.payments.models import PaymentStatus
from patron.payments.services import CardInput, PaymentDeclined, declined, validate_card

ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
NEW_ADDRESS = "new"
# Field names of the services' refusals -> the form field the shopper fixes.
ERROR_FIELDS = {
    "number": "card_number",
    "exp_month": "card_exp",
    "exp_year": "card_exp",
    "cvc": "card_cvc",
    "saved_address_id": "saved_address",
}
# Pricing choices that a refusal names, dropped one by one so the summary still shows totals beside the error.
PRICING_CHOICES = ("discount_code", "shipping_method", "country")


@dataclass(frozen=True)
class FieldSpec:
    label: str
    autocomplete: str
    type: str = "text"
    inputmode: str = ""
    required: bool = True
    help: str = ""
    maxlength: int | None = None
    placeholder: str = ""
    # Whether a change re-prices the summary (shipping and tax depend on where the parcel goes).
    reprices: bool = False


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    errors: list[str]
    spec: FieldSpec


FIELD_SPECS = {
    "email": FieldSpec("Email", "email", type="email", inputmode="email", help="For your receipt and order updates."),
    "full_name": FieldSpec("Full name", "name"),
    "line1": FieldSpec("Address", "address-line1"),
    "line2": FieldSpec("Apartment, suite, etc. (optional)", "address-line2", required=False),
    "city": FieldSpec("City", "address-level2"),
    "region": FieldSpec("Region (optional)", "address-level1", required=False, reprices=True),
    "postal_code": FieldSpec("Postal code", "postal-code"),
    "country": FieldSpec("Country code", "country", help="Two letters, e.g. US, GB, DE", maxlength=2, reprices=True),
    "phone": FieldSpec("Phone (optional)", "tel", type="tel", inputmode="tel", required=False),
    "card_number": FieldSpec("Card number", "cc-number", inputmode="numeric", maxlength=23),
    "card_exp": FieldSpec("Expiry (MM / YY)", "cc-exp", inputmode="numeric", maxlength=7, placeholder="MM / YY"),
    "card_cvc": FieldSpec("Security code", "cc-csc", inputmode="numeric", maxlength=4),
    "discount_code": FieldSpec("Discount code", "off", required=False),
}


def _fields(values: Mapping[str, str], errors: Mapping[str, list[str]], *, saved: bool) -> dict[str, Field]:
    """Every input with its kept value and its errors; address fields are optional while a saved one is chosen."""
    fields = {}
    for name, spec in FIELD_SPECS.items():
        if saved and name in ADDRESS_FIELDS:
            spec = replace(spec, required=False)
        fields[name] = Field(name=name, value=values.get(name, ""), errors=list(errors.get(name, [])), spec=spec)
    return fields


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) and request.user.is_authenticated else None


def _values(data: QueryDict) -> dict[str, str]:
    return {name: (data.get(name) or "").strip() for name in data if name != "csrfmiddlewaretoken"}


def _stripe() -> bool:
    return bool(settings.STRIPE_PUBLISHABLE_KEY)


def _field_errors(error: DomainError) -> dict[str, list[str]]:
    """The refusal's messages keyed by form field; what names no field of the form goes under "" (the top)."""
    errors: dict[str, list[str]] = {}
    for name, problems in error.fields.items():
        if name == "order":
            continue
        short = name.rsplit(".", 1)[-1]
        field = ERROR_FIELDS.get(short, short)
        if field not in KNOWN_FIELDS:
            field = ""
        errors.setdefault(field, []).extend(problem for problem in problems if problem not in errors.get(field, []))
    # The refusal's own message heads the page, above the fields it names.
    top = errors.setdefault("", [])
    if error.message not in top:
        top.insert(0, error.message)
    return errors


KNOWN_FIELDS = frozenset({"saved_address", "shipping_method", *FIELD_SPECS})


def _card(data: QueryDict) -> CardInput | None:
    """The card fields as the payment service expects them, checked by it; an unreadable expiry is refused here."""
    if _stripe():
        return None
    expiry = data.get("card_exp", "").strip()
    match = re.fullmatch(r"(\d{1,2})\s*/\s*(\d{2}|\d{4})", expiry)
    if match is None:
        message = "Enter the expiry date as MM / YY."
        raise ValidationFailed(message, fields={"card_exp": [message]})
    card = CardInput(
        number=data.get("card_number", ""),
        exp_month=int(match.group(1)),
        exp_year=int(match.group(2)),
        cvc=data.get("card_cvc", ""),
    )
    # Checked before the order is placed, so that a mistyped card never turns the cart into an unpaid order.
    return validate_card(card)


def _saved_addresses(user: User | None) -> list[Address]:
    return list(Address.objects.filter(user=user)) if user is not None else []


def _chosen_address(data: Mapping[str, str], addresses: list[Address]) -> Address | None:
    chosen = data.get("saved_address", "")
    return next((address for address in addresses if str(address.pk) == chosen), None)


def _initial(user: User | None, addresses: list[Address]) -> dict[str, str]:
    initial = {"email": user.email if user is not None else "", "saved_address": NEW_ADDRESS}
    if addresses:
        initial["saved_address"] = str(addresses[0].pk)
    return initial


def _price(
    cart: Cart | None, values: Mapping[str, str], address: Address | None, user: User | None
) -> tuple[CartView, dict[str, list[str]]]:
    """The cart priced for the shopper's choices; a refused choice is reported and left out of the totals."""
    choices: dict[str, str | None] = {
        "shipping_method": values.get("shipping_method") or None,
        "discount_code": values.get("discount_code", "").strip() or None,
        "country": (address.country if address else values.get("country", "")).strip().upper() or None,
    }
    region = address.region if address else values.get("region", "")
    errors: dict[str, list[str]] = {}
    while True:
        try:
            view = view_cart(
                cart,
                shipping_method=choices["shipping_method"],
                discount_code=choices["discount_code"],
                country=choices["country"],
                region=region,
                user=user,
                email=values.get("email") or None,
            )
        except ValidationFailed as refusal:
            refused = [name for name in PRICING_CHOICES if name in refusal.fields and choices[name] is not None]
            if not refused:
                raise
            for name in refused:
                errors[name] = refusal.fields[name]
                choices[name] = None
            continue
        return view, errors


def _checkout_context(
    request: HttpRequest,
    cart: Cart | None,
    values: Mapping[str, str],
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    user = _user(request)
    addresses = _saved_addresses(user)
    address = _chosen_address(values, addresses)
    view, pricing_errors = _price(cart, values, address, user)
    errors = {**pricing_errors, **(errors or {})}
    return {
        "view": view,
        "values": values,
        "fields": _fields(values, errors, saved=address is not None),
        "errors": errors,
        "top_errors": errors.get("", []),
        "addresses": addresses,
        "new_address": address is None,
        "idempotency_key": uuid.uuid4().hex,
        "stripe": _stripe(),
        "loyalty": _loyalty_offer(user, view),
    }


def _loyalty_offer(user: User | None, view: CartView) -> loyalty.CheckoutOffer | None:
    """The points this basket earns and the shopper's rewards to apply in one click."""
    if view.quote is None or not view.items:
        return None
    lines = [(item.variant.product_id, item.line_total) for item in view.items]
    quote = view.quote
    return loyalty.checkout_offer(user, lines, discount=quote.discount, shipping=quote.shipping, tax=quote.tax)


def _loyalty_choice(user: User | None, values: dict[str, str]) -> dict[str, list[str]]:
    """A reward chosen in one click: its code goes into the discount field, the reward redeemed first if need be."""
    code = values.pop("loyalty_code", "")
    reward_id, perk = values.pop("loyalty_reward", ""), values.pop("loyalty_perk", "")
    if reward_id or perk:
        try:
            code = loyalty.code_for_checkout(user, reward_id=reward_id, perk=perk)
        except DomainError as refusal:
            return {"discount_code": [refusal.message]}
    if code:
        values["discount_code"] = code
    return {}


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    cart = cart_for_request(request, create=False)
    user = _user(request)
    if request.method != "POST":
        context = _checkout_context(request, cart, _initial(user, _saved_addresses(user)))
        if not context["view"].items:
            messages.info(request, "Your cart is empty: add something before checking out.")
            return redirect("cart:detail")
        analytics.track_checkout_started(request, context["view"])
        return render(request, "storefront/checkout/checkout.html", context)

    values = _values(request.POST)
    try:
        order = _place(request, cart, user, values)
    except DomainError as refusal:
        placed = _placed_order(refusal)
        if placed is not None:
            # A declined card or a payment outage: the order exists and waits for payment on the pay page, which
            # tells a decline's reason itself (from the failed payment, so it survives a reload).
            if not isinstance(refusal, PaymentDeclined):
                messages.error(request, refusal.message)
            return redirect(_order_url("storefront:checkout_pay", placed))
        context = _checkout_context(request, cart, values, _field_errors(refusal))
        return render(request, "storefront/checkout/checkout.html", context, status=refusal.status)
    if _stripe() and not _settled(order):
        return redirect(_order_url("storefront:checkout_pay", order))
    return redirect(_order_url("storefront:order_confirmation", order))


def _place(request: HttpRequest, cart: Cart | None, user: User | None, values: Mapping[str, str]) -> Order:
    if cart is None:
        raise ValidationFailed("Your cart is empty: add something before checking out.")
    address = _chosen_address(values, _saved_addresses(user))
    data = CheckoutInput(
        email=values.get("email", ""),
        shipping_address=AddressInput(**{name: values.get(name, "") for name in ADDRESS_FIELDS}),
        shipping_method=values.get("shipping_method") or None,
        discount_code=values.get("discount_code") or None,
        card=_card(request.POST),
        saved_address_id=address.pk if address is not None else None,
    )
    return place_order(cart, data, user=user, idempotency_key=values.get("idempotency_key", ""))


def _placed_order(refusal: DomainError) -> Order | None:
    """The order a payment refusal names (the order is placed, only its payment failed), if any."""
    number = next(iter(refusal.fields.get("order", [])), "")
    return Order.objects.filter(number=number).first() if number else None


def _settled(order: Order) -> bool:
    return any(payment.status == PaymentStatus.SUCCEEDED for payment in order.payments.all())


def _order_url(name: str, order: Order) -> str:
    return f"{reverse(name, args=[order.number])}?{urlencode({'token': order_access_token(order)})}"


@never_cache
@require_POST
def checkout_totals(request: HttpRequest) -> HttpResponse:
    """The order summary (and the shipping choices, out of band) for the form's current address, method and code."""
    values = _values(request.POST)
    errors = _loyalty_choice(_user(request), values)
    context = _checkout_context(request, cart_for_request(request, create=False), values, errors)
    return render(request, "storefront/checkout/_totals.html", context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def checkout_pay(request: HttpRequest, number: str) -> HttpResponse:
    """Paying an order that is still awaiting payment: a retry after a decline, or Stripe's Payment Element."""
    token = request.GET.get("token", "")
    order = order_for_token(number, token)
    if order.status != OrderStatus.PENDING_PAYMENT:
        return redirect(_order_url("storefront:order_confirmation", order))
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = _values(request.POST)
        try:
            payment = pay_order(
                order, _card(request.POST), actor=_user(request), idempotency_key=values.get("idempotency_key", "")
            )
        except DomainError as refusal:
            errors = _field_errors(refusal)
            status = refusal.status
        else:
            if payment.status == PaymentStatus.SUCCEEDED or not _stripe():
                return redirect(_order_url("storefront:order_confirmation", order))
    latest = order.payments.order_by("-created_at", "-pk").first()
    if request.method != "POST" and latest is not None and latest.status == PaymentStatus.FAILED:
        errors = {"": [declined(latest.failure_code).message]}
    context = {
        "order": order,
        "token": token,
        "fields": _fields(values, errors, saved=False),
        "errors": errors,
        "top_errors": errors.get("", []),
        "idempotency_key": uuid.uuid4().hex,
        "stripe": _stripe(),
        "client_secret": latest.client_secret if latest is not None and _stripe() else "",
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "return_url": request.build_absolute_uri(_order_url("storefront:order_confirmation", order)),
    }
    return render(request, "storefront/checkout/pay.html", context, status=status)
