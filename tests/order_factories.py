"""Orders for tests, made the way checkout makes them: lines snapshot the variants and stock is reserved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from itertools import count

from django.db import transaction
from django.utils import timezone

from patron.accounts.models import User
from patron.catalog.models import Variant
from patron.catalog.services import reserve_stock
from patron.orders.models import Order, OrderLine, OrderStatus, OrderStatusChange
from patron.payments.models import Payment
from patron.payments.providers import CardInput
from patron.payments.services import start_payment
from patron.pricing.models import DiscountRedemption
from patron.pricing.services import check_discount, discount_amount, record_redemption

_numbers = count(1)
GOOD_CARD = CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")


def make_order(
    lines: Sequence[tuple[Variant, int]],
    *,
    user: User | None = None,
    email: str = "",
    shipping: Decimal | str = "5.00",
    placed_at: datetime | None = None,
) -> Order:
    """A pending-payment order for `lines` (variant, quantity) with its stock reserved and a first history row."""
    with transaction.atomic():
        reserve_stock({variant.pk: quantity for variant, quantity in lines})
        subtotal = sum((variant.price * quantity for variant, quantity in lines), Decimal("0.00"))
        order = Order.objects.create(
            number=f"T{next(_numbers):06d}",
            user=user,
            email=email or (user.email if user else "guest@example.com"),
            subtotal=subtotal,
            shipping=Decimal(shipping),
            total=subtotal + Decimal(shipping),
            shipping_address={
                "full_name": "Ada Lovelace",
                "line1": "1 Analytical Way",
                "city": "London",
                "postal_code": "N1 1AA",
                "country": "GB",
            },
            placed_at=placed_at or timezone.now(),
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product_id=variant.product_id,
                variant=variant,
                product_name=variant.product.name,
                sku=variant.sku,
                options=variant.options,
                unit_price=variant.price,
                quantity=quantity,
                line_total=variant.price * quantity,
            )
            for variant, quantity in lines
        )
        OrderStatusChange.objects.create(order=order, to_status=OrderStatus.PENDING_PAYMENT, note="placed")
    return order


def pay(order: Order) -> Payment:
    """Pay the order with the test provider's always-accepted card."""
    return start_payment(order, card=GOOD_CARD, idempotency_key=f"pay-{order.number}")


def redeem_code(
    code: str, *, order_id: int, subtotal: Decimal, user: User | None, email: str, now: datetime | None = None
) -> DiscountRedemption:
    """What a checkout's transaction does with a discount code: check it under a row lock, record the order's use."""
    with transaction.atomic():
        found = check_discount(code, subtotal=subtotal, user=user, email=email, now=now, lock=True)
        amount = discount_amount(found, subtotal)
        return record_redemption(found.pk, order_id=order_id, amount=amount, user=user, email=email, now=now)
