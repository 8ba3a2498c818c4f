"""The demo store's support data: conversations waiting in the inbox and tickets about real orders."""

from __future__ import annotations

import pytest

from patron.accounts.models import User
from patron.orders import services as orders
from patron.orders.models import OrderStatus
from patron.support import services
from patron.support.demo import seed_support
from patron.support.models import Article, ConversationStatus, Ticket
from tests.factories import make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db


def test_demo_support_data_fills_the_inbox_with_real_orders(customer: User, staff: User) -> None:
    variant = make_product("Mug", price="12.00", stock=10).variants.get()
    shipped = make_order([(variant, 1)], user=customer)
    orders.mark_paid(shipped.pk, pay(shipped).pk)
    orders.add_shipment(shipped, carrier="Parcelo", tracking_number="P1", actor=staff)
    delivered = make_order([(variant, 2)], user=customer)
    orders.mark_paid(delivered.pk, pay(delivered).pk)
    orders.add_shipment(delivered, carrier="Parcelo", tracking_number="P2", actor=staff)
    orders.transition(delivered, OrderStatus.DELIVERED, actor=staff)
    Article.objects.filter(slug="newsletter").delete()

    summary = seed_support()

    assert summary == "Support: 1 help articles, 2 conversations in the inbox, 2 tickets."
    waiting = list(services.inbox(staff, services.InboxFilters()))
    assert {conversation.order for conversation in waiting} == {shipped, delivered}
    assert all(conversation.status == ConversationStatus.OPEN for conversation in waiting)
    assert Ticket.objects.filter(contact__user=customer).count() == 2
