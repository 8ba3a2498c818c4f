"""A shopper's "yes" sent twice at once (a double tap, two tabs) cancels and refunds the order once."""

from __future__ import annotations

from pathlib import Path

import pytest

from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus
from patron.payments.models import PaymentEvent, PaymentEventKind
from patron.support import chat
from patron.support.models import Conversation
from tests.concurrency import in_threads, own_database_file, race
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@race
def test_two_simultaneous_confirmations_cancel_and_refund_once(tmp_path: Path) -> None:
    customer = make_user("ada@example.com")
    variant = make_product("Kettle", price="20.00", stock=5).variants.get()
    order = make_order([(variant, 1)], user=customer)
    orders.mark_paid(order.pk, pay(order).pk)
    proposal = chat.send(customer, f"please cancel order {order.number}")
    conversation_id = proposal.conversation.pk

    def confirm() -> str:
        reply = chat.send(customer, "yes", conversation_id=conversation_id).reply
        return reply.body if reply is not None else ""

    with own_database_file(tmp_path):
        answers = in_threads(2, confirm)
        [(status, refunds, stock, replies)] = in_threads(
            1,
            lambda: (
                Order.objects.get(pk=order.pk).status,
                PaymentEvent.objects.filter(payment__order_id=order.pk, kind=PaymentEventKind.REFUNDED).count(),
                Variant.objects.get(pk=variant.pk).stock,
                Conversation.objects.get(pk=conversation_id).messages.count(),
            ),
        )

    assert status == OrderStatus.CANCELLED
    assert refunds == 1
    assert stock == 5
    assert sum("is cancelled" in answer for answer in answers) == 1
    assert replies == 6  # the proposal's two messages, then each "yes" with its answer
