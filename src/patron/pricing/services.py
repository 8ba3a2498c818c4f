"""Prices of a basket: discount codes, shipping, tax and the totals a cart, a checkout and an order agree on.

All money is `Decimal`, rounded half-up to cents at each step a shopper can see (line totals, discount,
shipping, tax), so the parts always add up to the total shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from patron.accounts.models import User
from patron.catalog.models import Product
from patron.errors import Conflict, ValidationFailed
from patron.orders.models import OrderStatus
from patron.pricing.models import (
    VALUELESS_KINDS,
    DiscountCode,
    DiscountKind,
    DiscountRedemption,
    ShippingMethod,
    TaxRate,
    normalize_code,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Unambiguous when read aloud or copied from an email: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_RANDOM_LENGTH = 10
# A cancelled order (including an unpaid one that expired) gives its discount use back.
RELEASED_ORDER_STATUSES = (OrderStatus.CANCELLED,)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class QuoteLine:
    variant_id: int
    unit_price: Decimal
    quantity: int
    product_id: int | None = None  # needed only by free product codes

    @property
    def line_total(self) -> Decimal:
        return money(self.unit_price * self.quantity)


@dataclass(frozen=True)
class ShippingOption:
    code: str
    name: str
    price: Decimal
    min_days: int
    max_days: int
    free: bool


@dataclass(frozen=True)
class Quote:
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    discount_code: str | None
    shipping_method: str | None
    tax_rate: Decimal
    shipping_options: list[ShippingOption]
    # What a free shipping code waived of the chosen method's price (already left out of `shipping`).
    shipping_discount: Decimal = ZERO
    # The code's row, locked when the quote was made for placing an order (see `quote(lock_discount=True)`).
    discount_code_id: int | None = None

    @property
    def savings(self) -> Decimal:
        """Everything the discount code took off: the merchandise discount and any shipping it waived."""
        return self.discount + self.shipping_discount


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()


def _code_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"discount_code": [message]}, code="invalid_discount_code")


def discount_amount(code: DiscountCode, subtotal: Decimal, lines: Sequence[QuoteLine] = ()) -> Decimal:
    """What `code` takes off the merchandise: never more than the subtotal itself (free shipping takes off none).

    A free product code takes off one unit of its product at the lowest price it has in `lines`, and is refused
    when the basket does not hold it.
    """
    if code.kind == DiscountKind.FREE_SHIPPING:
        return ZERO
    if code.kind == DiscountKind.FREE_PRODUCT:
        prices = [line.unit_price for line in lines if line.product_id == code.product_id and line.quantity > 0]
        if not prices:
            name = code.product.name if code.product is not None else "its product"
            raise _code_error(f"This code gives one {name} free: add it to your cart to use the code.")
        amount = money(min(prices))
    elif code.kind == DiscountKind.PERCENT:
        amount = money(subtotal * code.value / 100)
    else:
        amount = money(code.value)
    return min(amount, money(subtotal))


def _customer_filter(user: User | None, email: str) -> Q | None:
    """A signed-in customer's uses include those made as a guest with the same email address."""
    condition = Q(email=email) if email else None
    if user is not None:
        condition = Q(user=user) if condition is None else condition | Q(user=user)
    return condition


def _check_limits(code: DiscountCode, *, user: User | None, email: str) -> None:
    customer = _customer_filter(user, email) if code.max_uses_per_customer is not None else None
    if code.max_uses is None and customer is None:
        return
    counters = {"total": Count("id")}
    if customer is not None:
        counters["customer"] = Count("id", filter=customer)
    uses = DiscountRedemption.objects.filter(code=code).exclude(order__status__in=RELEASED_ORDER_STATUSES)
    counts = uses.aggregate(**counters)
    if code.max_uses is not None and counts["total"] >= code.max_uses:
        raise _code_error("This code has already been used up.")
    limit = code.max_uses_per_customer
    if customer is not None and limit is not None and counts["customer"] >= limit:
        if limit == 1:
            raise _code_error("You have already used this code.")
        raise _code_error(f"You have already used this code {limit} times, its limit.")


def _check_rules(code: DiscountCode, *, subtotal: Decimal, user: User | None, email: str, now: datetime) -> None:
    if not code.is_active:
        raise _code_error("This code is not valid.")
    if code.starts_at is not None and now < code.starts_at:
        starts = timezone.localtime(code.starts_at)
        raise _code_error(f"This code is valid from {starts:%B} {starts.day}, {starts.year}.")
    if code.ends_at is not None and now >= code.ends_at:
        raise _code_error("This code has expired.")
    if code.user_id is not None and (user is None or user.pk != code.user_id):
        raise _code_error("This code belongs to a customer account: sign in to that account to use it.")
    if subtotal < code.min_subtotal:
        raise _code_error(
            f"This code needs a subtotal of at least {code.min_subtotal} {settings.STORE_CURRENCY}; "
            f"add {money(code.min_subtotal - subtotal)} more to use it."
        )
    _check_limits(code, user=user, email=email)


def check_discount(
    code: str,
    *,
    subtotal: Decimal,
    user: User | None,
    email: str | None,
    now: datetime | None = None,
    lock: bool = False,
) -> DiscountCode:
    """The code if this shopper may use it on `subtotal` now; ValidationFailed on `discount_code` otherwise.

    Per-customer limits are checked only once the shopper is known (signed in or an email given). With `lock`
    (placing an order, inside its transaction) the code's row stays locked until that transaction ends, so two
    checkouts racing for the last use of a code are served one after the other and the second is refused; the
    checkout then records the use with `record_redemption`. Every checkout locks its code before its stock, so
    none can deadlock.
    """
    normalized = normalize_code(code)
    codes = DiscountCode.objects.select_for_update() if lock else DiscountCode.objects
    found = codes.filter(code=normalized).first() if normalized else None
    if found is None:
        raise _code_error("This code is not valid.")
    _check_rules(found, subtotal=subtotal, user=user, email=_normalize_email(email), now=_now(now))
    return found


def record_redemption(
    code_id: int, *, order_id: int, amount: Decimal, user: User | None, email: str, now: datetime | None = None
) -> DiscountRedemption:
    """Record that a new order used the code `check_discount(lock=True)` checked and locked in this transaction.

    `amount` is everything the code took off (`Quote.savings`). An order has at most one code: a second one
    fails the transaction, which must then roll back, as the order must not be placed without the discount the
    shopper was shown.
    """
    return DiscountRedemption.objects.create(
        code_id=code_id,
        order_id=order_id,
        user=user,
        email=_normalize_email(email),
        amount=money(amount),
        redeemed_at=_now(now),
    )


def _check_issue(kind: str, value: Decimal, product: Product | None) -> None:
    if kind not in DiscountKind.values:
        raise ValidationFailed("Unknown discount kind.", fields={"kind": [f"Choose one of {DiscountKind.values}."]})
    if (kind == DiscountKind.FREE_PRODUCT) != (product is not None):
        message = "A free product code needs a product, and only it takes one."
        raise ValidationFailed(message, fields={"product": [message]})
    if kind in VALUELESS_KINDS:
        return
    if value <= 0 or (kind == DiscountKind.PERCENT and value > 100):
        raise ValidationFailed(
            "The discount value is out of range.",
            fields={"value": ["A percentage is above 0 and at most 100; an amount is above 0."]},
        )


def issue_discount_code(
    *,
    kind: str,
    value: Decimal = ZERO,
    product: Product | None = None,
    prefix: str = "",
    min_subtotal: Decimal = Decimal("0"),
    valid_for: timedelta | None = None,
    max_uses: int | None = 1,
    max_uses_per_customer: int | None = 1,
    user: User | None = None,
    note: str = "",
) -> DiscountCode:
    """A new code with a random, hard-to-guess body, e.g. for a loyalty reward (single use by default).

    With `user` set, only that customer can redeem it; with `valid_for`, it expires that long from now. Free
    shipping waives the chosen shipping method's price; free product (with `product`) takes one unit of that
    product off, and `value` is unused by both.
    """
    _check_issue(kind, value, product)
    head = normalize_code(prefix).rstrip("-")
    starts_at = timezone.now()
    ends_at = starts_at + valid_for if valid_for is not None else None
    # The random part makes a collision very unlikely; a few retries make it harmless.
    for _attempt in range(5):
        body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_RANDOM_LENGTH))
        try:
            with transaction.atomic():
                return DiscountCode.objects.create(
                    code=f"{head}-{body}" if head else body,
                    kind=kind,
                    value=ZERO if kind in VALUELESS_KINDS else money(value),
                    product=product,
                    min_subtotal=money(min_subtotal),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    max_uses=max_uses,
                    max_uses_per_customer=max_uses_per_customer,
                    user=user,
                    note=note,
                )
        except IntegrityError:
            continue
    raise Conflict("Could not find a free discount code; try again.")


def _option(method: ShippingMethod, subtotal: Decimal) -> ShippingOption:
    free = method.free_over is not None and subtotal >= method.free_over
    return ShippingOption(
        code=method.code,
        name=method.name,
        price=ZERO if free else money(method.price),
        min_days=method.min_days,
        max_days=method.max_days,
        free=free,
    )


def shipping_options(country: str | None, subtotal: Decimal) -> list[ShippingOption]:
    """Active methods that deliver to `country`, priced for `subtotal` (after discounts), cheapest first.

    Without a country (a cart before the address is known) every active method is listed as an estimate.
    """
    methods = ShippingMethod.objects.filter(is_active=True)
    wanted = (country or "").strip().upper()
    options = [_option(method, subtotal) for method in methods if not wanted or _delivers_to(method, wanted)]
    # Stable sort: equal prices keep the merchant's order.
    return sorted(options, key=lambda option: option.price)


def _delivers_to(method: ShippingMethod, country: str) -> bool:
    return not method.countries or country in method.countries


def tax_rate_for(country: str, region: str = "") -> TaxRate | None:
    """The rate of `region` in `country` if there is one, else the country's own rate, else none."""
    country = country.strip().upper()
    region = region.strip().upper()
    places = [""] if not region else ["", region]
    rates = sorted(TaxRate.objects.filter(country=country, region__in=places), key=lambda rate: rate.region == "")
    return rates[0] if rates else None


def _choose_shipping(options: list[ShippingOption], shipping_method: str | None, country: str) -> ShippingOption:
    if shipping_method:
        for option in options:
            if option.code == shipping_method:
                return option
        where = f" to {country}" if country else ""
        message = f"This shipping method is not available{where}; please choose another."
        raise ValidationFailed(message, fields={"shipping_method": [message]}, code="invalid_shipping_method")
    if not options:
        message = f"Sorry, we do not deliver to {country} yet."
        raise ValidationFailed(message, fields={"country": [message]}, code="no_shipping_to_country")
    return options[0]


def quote(
    lines: Sequence[QuoteLine],
    *,
    shipping_method: str | None = None,
    country: str | None = None,
    region: str = "",
    discount_code: str | None = None,
    user: User | None = None,
    email: str | None = None,
    now: datetime | None = None,
    lock_discount: bool = False,
) -> Quote:
    """Totals for `lines` (current unit prices): subtotal - discount + shipping + tax = total.

    Without a chosen method the cheapest available one is used; without a country there is no tax.
    An empty basket ships nothing and costs nothing. Refusals name the field the shopper should fix.
    `lock_discount` is for placing an order: see `check_discount` and `record_redemption`.
    """
    subtotal = sum((line.line_total for line in lines), ZERO)
    code = (
        check_discount(discount_code, subtotal=subtotal, user=user, email=email, now=now, lock=lock_discount)
        if discount_code and discount_code.strip()
        else None
    )
    discount = discount_amount(code, subtotal, lines) if code is not None else ZERO
    discounted = subtotal - discount
    wanted = (country or "").strip().upper()

    options: list[ShippingOption] = []
    chosen: ShippingOption | None = None
    if lines:
        options = shipping_options(wanted or None, discounted)
        chosen = _choose_shipping(options, shipping_method, wanted)
    shipping = chosen.price if chosen is not None else ZERO
    shipping_discount = ZERO
    if code is not None and code.kind == DiscountKind.FREE_SHIPPING:
        shipping_discount, shipping = shipping, ZERO

    rate = tax_rate_for(wanted, region) if wanted else None
    tax_rate = rate.rate if rate is not None else Decimal("0")
    taxable = discounted + shipping if rate is not None and rate.applies_to_shipping else discounted
    tax = money(taxable * tax_rate)

    return Quote(
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        total=discounted + shipping + tax,
        currency=settings.STORE_CURRENCY,
        discount_code=code.code if code is not None else None,
        shipping_method=chosen.code if chosen is not None else None,
        tax_rate=tax_rate,
        shipping_options=options,
        shipping_discount=shipping_discount,
        discount_code_id=code.pk if code is not None and lock_discount else None,
    )
