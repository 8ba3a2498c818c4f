"""Placing orders: from a cart to an order with its stock taken, its discount redeemed and its payment started.

`place_order` runs in one transaction: the cart is priced again on the server at current prices (its discount
code checked under a row lock), the order and its lines snapshot names and prices, then stock is taken with
conditional updates (never below zero) as late as it can (every checkout takes its locks in the same order: code,
variants, products), the code's use is recorded, and OrderPlaced is published. The payment starts once that
transaction has committed, so a slow provider never holds locks.

Payment outcomes:
- test provider: settles at once. Success publishes PaymentSucceeded and `mark_paid` makes the order paid.
  A decline keeps the order awaiting payment but gives its stock back at once; `pay_order` takes the stock again
  (or refuses with OutOfStock if it sold out meanwhile) and retries. The caller gets PaymentDeclined naming
  the order number in `fields["order"]`.
- stripe: the payment answers `requires_action` with the client secret for the Payment Element; the order
  stays awaiting payment with its stock held until Stripe's webhook settles it (PaymentSucceeded -> paid), the
  shopper retries with `pay_order`, or the unpaid-order expiry cancels it and gives the stock back.

Idempotency: each request carries a key, stored with whose key it is and a fingerprint of the request. A
retry returns the same order and the same payment; the same key with another request is a Conflict.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils.crypto import constant_time_compare, salted_hmac

from patron import events
from patron.accounts.models import Address, User
from patron.cart.models import Cart
from patron.cart.services import UNAVAILABLE, CartView, clear_cart, view_cart
from patron.catalog.services import release_stock, reserve_stock
from patron.errors import Conflict, DomainError, NotFound, OutOfStock, ValidationFailed
from patron.orders.models import Order, OrderLine, OrderRequest, OrderStatus, OrderStatusChange
from patron.orders.services import _line_quantities, _lock, _require_owner_or_staff, _with_details
from patron.payments.models import Payment, PaymentStatus
from patron.payments.providers import OfflineProvider, get_provider
from patron.payments.services import CardInput, PaymentDeclined, declined, start_payment, validate_card
from patron.pricing.services import record_redemption

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Unambiguous characters only, so a shopper can read an order number out over the phone.
NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NUMBER_LENGTH = 10
TOKEN_SALT = "patron.orders.access"  # noqa: S105 (an HMAC salt, not a secret)

ADDRESS_LIMITS = {
    "full_name": 200,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 20,
    "country": 2,
    "phone": 30,
}
REQUIRED_ADDRESS_FIELDS = ("full_name", "line1", "city", "postal_code", "country")


@dataclass(frozen=True)
class AddressInput:
    full_name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


@dataclass(frozen=True)
class CheckoutInput:
    email: str
    shipping_address: AddressInput | None
    shipping_method: str | None = None
    discount_code: str | None = None
    card: CardInput | None = None  # test provider; None with the stripe provider (Payment Element)
    saved_address_id: int | None = None  # a signed-in customer's own address instead of shipping_address


# --- Input -----------------------------------------------------------------------------------------


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        message = f"Send an {IDEMPOTENCY_HEADER} of 1 to {MAX_KEY_LENGTH} characters."
        raise ValidationFailed(message, fields={"idempotency_key": [message]})
    return key


def _clean_address(address: AddressInput) -> AddressInput:
    values = {name: str(value or "").strip() for name, value in asdict(address).items()}
    values["country"] = values["country"].upper()
    errors: dict[str, list[str]] = {}
    for name in REQUIRED_ADDRESS_FIELDS:
        if not values[name]:
            errors[name] = ["This field is required."]
    for name, limit in ADDRESS_LIMITS.items():
        if len(values[name]) > limit and name != "country":
            errors[name] = [f"At most {limit} characters."]
    country = values["country"]
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = ["Use the two-letter country code, e.g. US or DE."]
    if errors:
        raise ValidationFailed("Please check the shipping address.", fields=errors)
    return AddressInput(**values)


def _saved_address(user: User | None, address_id: int) -> AddressInput:
    address = Address.objects.filter(pk=address_id, user=user).first() if user is not None else None
    if address is None:
        message = "Choose one of your saved addresses."
        raise ValidationFailed(message, fields={"saved_address_id": [message]})
    return AddressInput(**{name: getattr(address, name) for name in ADDRESS_LIMITS})


def _clean_email(email: str, user: User | None) -> str:
    email = (email or "").strip() or (user.email if user is not None else "")
    try:
        validate_email(email)
    except ValidationError:
        message = "Enter a valid email address." if email else "Enter your email address."
        raise ValidationFailed(message, fields={"email": [message]}) from None
    return email


def _clean(data: CheckoutInput, user: User | None) -> tuple[str, AddressInput]:
    """The email and address to ship to, with every field's problem reported at once."""
    errors: dict[str, list[str]] = {}
    email = address = None
    try:
        email = _clean_email(data.email, user)
    except ValidationFailed as refusal:
        errors |= refusal.fields
    try:
        if data.saved_address_id is not None:
            address = _saved_address(user, data.saved_address_id)
        elif data.shipping_address is None:
            errors["shipping_address"] = ["Enter a shipping address."]
        else:
            address = _clean_address(data.shipping_address)
    except ValidationFailed as refusal:
        errors |= refusal.fields
    try:
        _check_card(data.card)
    except ValidationFailed as refusal:
        errors |= refusal.fields
    if errors or email is None or address is None:
        raise ValidationFailed("Please check the highlighted fields.", fields=errors)
    return email, address


def _check_card(card: CardInput | None) -> None:
    """Refuse card details the payment would refuse before any order exists (start_payment checks them again)."""
    if get_provider().name != OfflineProvider.name:
        if card is not None:
            message = "Card details are entered in the secure payment form, never sent to the store."
            raise ValidationFailed(message, fields={"number": ["Use the secure payment form."]})
        return
    if card is None:
        raise ValidationFailed("Please enter your card details.", fields={"number": ["Enter your card number."]})
    validate_card(card)


def _scope(cart: Cart, user: User | None) -> str:
    return f"user:{user.pk}" if user is not None else f"cart:{cart.pk}"


def _fingerprint(data: CheckoutInput, email: str, address: AddressInput) -> str:
    """What the request asks for. Card details stay out: they are never stored, not even as a digest."""
    asked = {
        "email": email.lower(),
        "address": asdict(address),
        "saved_address_id": data.saved_address_id,
        "shipping_method": data.shipping_method or "",
        "discount_code": (data.discount_code or "").strip().upper(),
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def _payment_key(order: Order, key: str) -> str:
    return f"order-{order.number}-{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def new_order_number() -> str:
    return "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_LENGTH))


# --- Placing ---------------------------------------------------------------------------------------


def _refuse_problems(view: CartView) -> None:
    if not view.items:
        raise ValidationFailed("Your cart is empty.", fields={"cart": ["Add something to your cart first."]})
    gone = [item for item in view.items if item.problem == UNAVAILABLE]
    if gone:
        messages = [f"{item.product_name}: {item.problem}" for item in gone]
        raise ValidationFailed(
            "Some items in your cart are no longer available; please remove them.", fields={"cart": messages}
        )
    short = [item for item in view.items if item.problem]
    if short:
        fields = {str(item.variant.pk): [f"{item.product_name}: {item.problem}"] for item in short}
        message = next(iter(fields.values()))[0] if len(short) == 1 else "Some items are out of stock."
        raise OutOfStock(message, available={item.variant.pk: max(item.stock, 0) for item in short}, fields=fields)


def _create_order(
    cart: Cart, data: CheckoutInput, *, user: User | None, email: str, address: AddressInput, number: str
) -> Order:
    """Inside the checkout transaction: price (locking the discount code), write the order, take stock, record the
    code's use.

    Stock comes last: its row locks (the variants, the product totals) are held until the transaction commits, so
    taking them last lets other checkouts of the same items wait the least.
    """
    view = view_cart(
        cart,
        shipping_method=data.shipping_method,
        country=address.country,
        region=address.region,
        discount_code=data.discount_code,
        user=user,
        email=email,
        for_order=True,
    )
    _refuse_problems(view)
    totals = view.quote
    if totals is None:
        message = view.pricing_problem or "This cart cannot be priced."
        raise ValidationFailed(message, fields={"shipping_method": [message]})
    quantities: dict[int, int] = {}
    for item in view.items:
        quantities[item.variant.pk] = quantities.get(item.variant.pk, 0) + item.quantity
    products = {item.variant.pk: item.variant.product_id for item in view.items}
    order = Order.objects.create(
        number=number,
        user=user,
        email=email,
        currency=totals.currency,
        subtotal=totals.subtotal,
        discount=totals.discount,
        shipping=totals.shipping,
        tax=totals.tax,
        total=totals.total,
        shipping_address=asdict(address),
        shipping_method=totals.shipping_method or "",
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product_id=item.variant.product_id,
            variant=item.variant,
            product_name=item.product_name,
            sku=item.variant.sku,
            options=item.variant.options,
            unit_price=item.unit_price,
            quantity=item.quantity,
            line_total=item.line_total,
        )
        for item in view.items
    )
    OrderStatusChange.objects.create(order=order, to_status=OrderStatus.PENDING_PAYMENT, actor=user, note="placed")
    clear_cart(cart)
    reserve_stock(quantities, products=products)
    if totals.discount_code_id is not None:
        record_redemption(totals.discount_code_id, order_id=order.pk, amount=totals.savings, user=user, email=email)
    events.publish(events.OrderPlaced(order_id=order.pk))
    return order


def place_order(cart: Cart, data: CheckoutInput, *, user: User | None, idempotency_key: str) -> Order:
    """Turn the cart into an order and take its payment; a retry with the same key returns the same order.

    Raises ValidationFailed (fields named), OutOfStock (409), Conflict for a key reused with another request,
    and PaymentDeclined (402, `fields["order"]` = the order number) when the card is refused.
    """
    key = _check_key(idempotency_key)
    user = user if user is not None and user.is_authenticated else None
    email, address = _clean(data, user)
    scope, fingerprint = _scope(cart, user), _fingerprint(data, email, address)

    number = new_order_number()
    try:
        with transaction.atomic():
            OrderRequest.objects.create(scope=scope, key=key, fingerprint=fingerprint, order_id=number)
            order = _create_order(cart, data, user=user, email=email, address=address, number=number)
    except IntegrityError:
        # The key was claimed before: by an earlier try of this request, or a simultaneous one that committed first.
        replayed = _replayed(scope, key, fingerprint)
        if replayed is None:
            raise
        order = replayed
    _pay(order, data.card, _payment_key(order, key))
    return order


def _replayed(scope: str, key: str, fingerprint: str) -> Order | None:
    request = OrderRequest.objects.filter(scope=scope, key=key).select_related("order").first()
    if request is None:
        return None
    if request.fingerprint != fingerprint:
        raise Conflict(
            "This idempotency key was already used for a different order request.", code="idempotency_key_reused"
        )
    return request.order


# --- Paying ----------------------------------------------------------------------------------------


def _name_order(error: DomainError, order: Order) -> None:
    """Add the order number to a refusal, so the shopper can retry the order's payment."""
    error.fields = {**error.fields, "order": [order.number]}


def _release(order: Order) -> None:
    """Give a declined order's units back, once, whatever retries or the unpaid-order expiry do meanwhile."""
    with transaction.atomic():
        locked = _lock(order.pk)
        if locked.status == OrderStatus.PENDING_PAYMENT and locked.stock_reserved:
            release_stock(_line_quantities(locked))
            Order.objects.filter(pk=locked.pk).update(stock_reserved=False)
    order.stock_reserved = False


def _pay(order: Order, card: CardInput | None, payment_key: str) -> Payment:
    try:
        payment = start_payment(order, card=card, idempotency_key=payment_key)
    except PaymentDeclined as refusal:
        _release(order)
        _name_order(refusal, order)
        raise
    except DomainError as refusal:
        # The stock stays held (a provider outage, say): the same request can be retried with the same key, and the
        # unpaid-order expiry is the backstop.
        _name_order(refusal, order)
        raise
    # A successful payment publishes PaymentSucceeded, whose subscriber marks the order paid.
    return payment


def pay_order(order: Order, card: CardInput | None, *, actor: User | None, idempotency_key: str) -> Payment:
    """Retry the payment of an order awaiting it (after a decline), taking its stock again if it was given back.

    Guests (actor None) must have been let in by `order_for_token`; signed-in callers must own the order or be
    staff. The same key returns the same payment.
    """
    key = _check_key(idempotency_key)
    if actor is not None and actor.is_authenticated:
        _require_owner_or_staff(order, actor)
    payment_key = _payment_key(order, key)
    earlier = Payment.objects.filter(idempotency_key=payment_key, order=order).first()
    if earlier is not None:
        if earlier.status == PaymentStatus.FAILED:
            refusal = declined(earlier.failure_code)
            _name_order(refusal, order)
            raise refusal
        return earlier
    with transaction.atomic():
        locked = _lock(order.pk)
        if locked.status != OrderStatus.PENDING_PAYMENT:
            raise Conflict("This order is not awaiting payment.", code="order_not_payable")
        if not locked.stock_reserved:
            try:
                reserve_stock(_line_quantities(locked))
            except OutOfStock as short:
                _name_order(short, locked)
                raise
            Order.objects.filter(pk=locked.pk).update(stock_reserved=True)
    order.refresh_from_db()
    return _pay(order, card, payment_key)


# --- Guest access ----------------------------------------------------------------------------------


def order_access_token(order: Order) -> str:
    """The signed token of an order's guest link (confirmation page, order page, emails); it does not expire."""
    return salted_hmac(TOKEN_SALT, f"{order.pk}:{order.number}:{order.email.lower()}", algorithm="sha256").hexdigest()


def order_for_token(number: str, token: str) -> Order:
    """The order behind a guest link, with its lines, history, shipments and payments; NotFound otherwise."""
    order = _with_details(Order.objects.select_related("user")).filter(number=number).first()
    if order is None or not token or not constant_time_compare(order_access_token(order), token):
        raise NotFound("No such order.")
    return order


def latest_payment(order: Order) -> Payment | None:
    """The order's most recent payment, from the prefetched payments when they are loaded."""
    payments = list(order.payments.all())
    return max(payments, key=lambda payment: (payment.created_at, payment.pk)) if payments else None


def placed_order(order_id: int) -> Order:
    """An order as checkout shows it: with its lines and payments (a new order has no shipments yet)."""
    found = (
        Order.objects.filter(pk=order_id)
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("pk")),
            Prefetch("payments", queryset=Payment.objects.order_by("created_at", "pk")),
        )
        .first()
    )
    if found is None:
        raise NotFound("No such order.")
    return found
