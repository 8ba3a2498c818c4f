"""The last use of a discount code goes to exactly one of many checkouts placing orders at the same moment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from queue import SimpleQueue

import pytest
from django.db import transaction

from patron.errors import ValidationFailed
from patron.orders.models import Order
from patron.pricing.models import DiscountCode, DiscountKind, DiscountRedemption
from tests.concurrency import in_threads, own_database_file, race
from tests.order_factories import redeem_code

SHOPPERS = 10


def _checkout(order: Order) -> str:
    """One checkout's transaction: the order's other writes would share it, so the code stays locked till the end."""
    try:
        with transaction.atomic():
            redeem_code("LASTONE", order_id=order.pk, subtotal=Decimal("80.00"), user=None, email=order.email)
    except ValidationFailed as refused:
        return refused.message
    return "redeemed"


@race
@pytest.mark.django_db(transaction=True)
def test_a_single_use_code_is_redeemed_once_under_concurrency(tmp_path: Path) -> None:
    code = DiscountCode.objects.create(code="LASTONE", kind=DiscountKind.FIXED, value=Decimal("10"), max_uses=1)
    orders = [
        Order.objects.create(number=f"R{index:04d}", email=f"shopper{index}@example.com") for index in range(SHOPPERS)
    ]
    pending: SimpleQueue[Order] = SimpleQueue()
    for order in orders:
        pending.put(order)

    with own_database_file(tmp_path):
        results = in_threads(SHOPPERS, lambda: _checkout(pending.get_nowait()))
        [[redeemed]] = in_threads(1, lambda: list(DiscountRedemption.objects.filter(code=code)))

    assert results.count("redeemed") == 1
    assert results.count("This code has already been used up.") == SHOPPERS - 1
    assert redeemed.amount == Decimal("10.00")
