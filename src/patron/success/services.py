"""The signed-in customer's dashboard: what is going on with their orders, reviews, points and support, at a glance.

Everything is read through the owning apps' services and models; no rule about orders, points or tickets is
decided here. The whole dashboard costs a fixed number of queries whatever the customer's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, Subquery

from patron.accounts.models import User
from patron.errors import NotAuthenticated
from patron.loyalty import services as loyalty
from patron.orders import services as orders
from patron.orders.models import OrderLine, OrderStatus, TrackingEvent
from patron.reviews.models import Review
from patron.support import services as support
from patron.support.models import ConversationStatus, Message, Sender, TicketStatus

# A glance, not a history: each card links to the full page.
ORDERS_SHOWN = 10
REVIEWS_SHOWN = 5
SUPPORT_SHOWN = 5
STORE_SENDERS = (Sender.AGENT, Sender.ASSISTANT)
OPEN_TICKET_STATUSES = (TicketStatus.OPEN, TicketStatus.PENDING)


@dataclass(frozen=True)
class Tracking:
    status: str
    status_label: str
    at: datetime
    location: str
    description: str


@dataclass(frozen=True)
class OrderInProgress:
    number: str
    status: str
    status_label: str
    placed_at: datetime
    total: Decimal
    currency: str
    tracking: Tracking | None


@dataclass(frozen=True)
class ReviewWaiting:
    product_id: int
    product_name: str
    product_slug: str
    options: dict[str, str]
    order_number: str
    placed_at: datetime


@dataclass(frozen=True)
class NextReward:
    name: str
    points_needed: int


@dataclass(frozen=True)
class Loyalty:
    program_name: str
    points: int
    pending: int
    value: Decimal
    tier: str | None
    next_tier: str | None
    # How far the next tier is, in the program's basis: money spent ("spend") or points earned.
    to_next_tier: Decimal
    tier_basis: str
    tier_percent: int
    rewards_available: int
    next_reward: NextReward | None


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    channel: str
    status: str
    status_label: str
    last_message_at: datetime
    store_replied_last: bool
    order_number: str | None


@dataclass(frozen=True)
class TicketSummary:
    id: int
    subject: str
    status: str
    status_label: str
    updated_at: datetime
    # A pending ticket waits for the customer: the team answered last.
    store_replied_last: bool
    order_number: str | None


@dataclass(frozen=True)
class Dashboard:
    orders_count: int
    orders_in_progress_count: int
    orders_in_progress: list[OrderInProgress]
    reviews_waiting: list[ReviewWaiting]
    loyalty: Loyalty | None  # None while the loyalty program is switched off
    conversations: list[ConversationSummary]
    tickets: list[TicketSummary]


def customer_dashboard(user: User | None) -> Dashboard:
    """The customer's own orders in progress, items to review, points and open support requests."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    counts, in_progress = _orders(user)
    conversations, tickets = _support(user)
    return Dashboard(
        orders_count=counts["all"],
        orders_in_progress_count=counts["in_progress"],
        orders_in_progress=in_progress,
        reviews_waiting=_reviews_waiting(user),
        loyalty=_loyalty(user),
        conversations=conversations,
        tickets=tickets,
    )


def _orders(user: User) -> tuple[dict[str, int], list[OrderInProgress]]:
    # Staff may list every order; a dashboard only ever shows the user's own.
    own = orders.list_orders(user).filter(user=user)
    counts = own.aggregate(all=Count("pk"), in_progress=Count("pk", filter=~Q(status__in=orders.FINAL_STATUSES)))
    latest_event = TrackingEvent.objects.filter(shipment__order=OuterRef("pk")).order_by("-at", "-pk").values("pk")[:1]
    rows = list(
        own.exclude(status__in=orders.FINAL_STATUSES)
        .annotate(latest_event_id=Subquery(latest_event))
        .order_by("-placed_at", "-pk")[:ORDERS_SHOWN]
    )
    event_ids = [row.latest_event_id for row in rows if row.latest_event_id is not None]
    events = {event.pk: event for event in TrackingEvent.objects.filter(pk__in=event_ids)} if event_ids else {}
    in_progress = []
    for order in rows:
        event = events.get(order.latest_event_id)
        tracking = (
            Tracking(
                status=event.status,
                status_label=event.get_status_display(),
                at=event.at,
                location=event.location,
                description=event.description,
            )
            if event is not None
            else None
        )
        in_progress.append(
            OrderInProgress(
                number=order.number,
                status=order.status,
                status_label=order.get_status_display(),
                placed_at=order.placed_at,
                total=order.total,
                currency=order.currency,
                tracking=tracking,
            )
        )
    return {"all": counts["all"], "in_progress": counts["in_progress"]}, in_progress


def _reviews_waiting(user: User) -> list[ReviewWaiting]:
    """Delivered products the customer has not reviewed (a review is one per customer and product), newest first.

    A product bought several times appears once, from its latest delivered order: the correlated subquery keeps
    only that line, so this is one query on SQLite and PostgreSQL alike.
    """
    delivered = OrderLine.objects.filter(order__user=user, order__status=OrderStatus.DELIVERED)
    latest_line = delivered.filter(product=OuterRef("product")).order_by("-order__placed_at", "-pk").values("pk")[:1]
    lines = (
        delivered.exclude(product__in=Review.objects.filter(user=user).values("product"))
        .filter(pk=Subquery(latest_line))
        .select_related("order", "product")
        .order_by("-order__placed_at", "-pk")[:REVIEWS_SHOWN]
    )
    return [
        ReviewWaiting(
            product_id=line.product_id,
            product_name=line.product_name,
            product_slug=line.product.slug,
            options={str(key): str(value) for key, value in (line.options or {}).items()},
            order_number=line.order.number,
            placed_at=line.order.placed_at,
        )
        for line in lines
    ]


def _loyalty(user: User) -> Loyalty | None:
    if not loyalty.get_program().is_active:
        return None
    summary = loyalty.summary(user)
    progress = summary.progress
    options = loyalty.reward_options(user)
    # The cheapest reward the balance does not reach yet is the next goal.
    out_of_reach = sorted(
        (option.reward for option in options if option.reward.points_cost > summary.points),
        key=lambda reward: (reward.points_cost, reward.pk),
    )
    next_reward = (
        NextReward(name=out_of_reach[0].name, points_needed=out_of_reach[0].points_cost - summary.points)
        if out_of_reach
        else None
    )
    return Loyalty(
        program_name=summary.program.name,
        points=summary.points,
        pending=summary.pending,
        value=summary.value,
        tier=progress.tier.name if progress.tier is not None else None,
        next_tier=progress.next_tier.name if progress.next_tier is not None else None,
        to_next_tier=progress.remaining,
        tier_basis=progress.basis,
        tier_percent=progress.percent,
        rewards_available=sum(1 for option in options if option.can_redeem),
        next_reward=next_reward,
    )


def _support(user: User) -> tuple[list[ConversationSummary], list[TicketSummary]]:
    last_public = Message.objects.filter(conversation=OuterRef("pk"), private=False).exclude(sender=Sender.SYSTEM)
    conversations = (
        support.list_conversations(user)
        .exclude(status=ConversationStatus.RESOLVED)
        .annotate(last_sender=Subquery(last_public.order_by("-created_at", "-pk").values("sender")[:1]))
        .select_related("order")
        .order_by("-last_message_at", "-pk")[:SUPPORT_SHOWN]
    )
    tickets = (
        support.list_tickets(user)
        .filter(status__in=OPEN_TICKET_STATUSES)
        .order_by("-updated_at", "-pk")[:SUPPORT_SHOWN]
    )
    return (
        [
            ConversationSummary(
                id=conversation.pk,
                channel=conversation.get_channel_display(),
                status=conversation.status,
                status_label=conversation.get_status_display(),
                last_message_at=conversation.last_message_at,
                store_replied_last=conversation.last_sender in STORE_SENDERS,
                order_number=conversation.order.number if conversation.order is not None else None,
            )
            for conversation in conversations
        ],
        [
            TicketSummary(
                id=ticket.pk,
                subject=ticket.subject,
                status=ticket.status,
                status_label=ticket.get_status_display(),
                updated_at=ticket.updated_at,
                store_replied_last=ticket.status == TicketStatus.PENDING,
                order_number=ticket.order.number if ticket.order is not None else None,
            )
            for ticket in tickets
        ],
    )
