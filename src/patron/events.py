"""Domain events and the one table of who reacts to them.

Services publish an event once their transaction commits; each subscriber is a Django task (see each app's
`tasks.py`) that receives the event's fields as keyword arguments, so it runs in the background, may be
retried, and must be idempotent. There are no hidden signal handlers: `SUBSCRIBERS` below is the whole map.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from django.tasks import Task
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Event:
    """Fields are plain JSON values (ids, strings, decimal amounts as strings) so they cross the task queue."""

    def payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OrderPlaced(Event):
    order_id: int


@dataclass(frozen=True)
class OrderPaid(Event):
    order_id: int


@dataclass(frozen=True)
class OrderShipped(Event):
    order_id: int
    shipment_id: int


@dataclass(frozen=True)
class OrderDelivered(Event):
    order_id: int


@dataclass(frozen=True)
class OrderCancelled(Event):
    order_id: int


@dataclass(frozen=True)
class PaymentSucceeded(Event):
    payment_id: int
    order_id: int


@dataclass(frozen=True)
class PaymentFailed(Event):
    payment_id: int
    order_id: int
    reason: str


@dataclass(frozen=True)
class PaymentRefunded(Event):
    payment_id: int
    order_id: int
    amount: str


@dataclass(frozen=True)
class CustomerRegistered(Event):
    user_id: int
    referral_code: str  # a friend's code given at sign-up, or ""


@dataclass(frozen=True)
class ReviewApproved(Event):
    review_id: int
    user_id: int
    product_id: int


@dataclass(frozen=True)
class ConversationResolved(Event):
    """A support conversation was marked resolved (e.g. so a satisfaction survey can follow)."""

    conversation_id: int


# Event type -> dotted paths of the tasks that handle it, in the order they are enqueued.
SUBSCRIBERS: dict[type[Event], tuple[str, ...]] = {
    PaymentSucceeded: ("patron.orders.tasks.mark_order_paid",),
    OrderPlaced: ("patron.analytics.tasks.record_order_placed",),
    OrderPaid: ("patron.orders.tasks.send_confirmation_email", "patron.loyalty.tasks.award_order_points"),
    OrderShipped: ("patron.orders.tasks.send_shipped_email",),
    OrderDelivered: (
        "patron.orders.tasks.send_delivered_email",
        "patron.loyalty.tasks.schedule_order_points",
        "patron.reviews.tasks.verify_order_reviews",
        "patron.followups.tasks.schedule_delivery_followups",
    ),
    OrderCancelled: ("patron.loyalty.tasks.reverse_order_points",),
    PaymentRefunded: ("patron.loyalty.tasks.reverse_refunded_points",),
    CustomerRegistered: ("patron.loyalty.tasks.welcome_customer",),
    ReviewApproved: ("patron.loyalty.tasks.award_review_points",),
    ConversationResolved: ("patron.followups.tasks.schedule_csat_survey",),
}


def subscribers(event_type: type[Event]) -> list[Task[..., Any]]:
    return [import_string(path) for path in SUBSCRIBERS.get(event_type, ())]


def publish(event: Event) -> None:
    """Enqueue every subscriber of `event` after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: dispatch(event))


def dispatch(event: Event) -> None:
    for task in subscribers(type(event)):
        task.enqueue(**event.payload())
