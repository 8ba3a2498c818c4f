"""/api/me: the signed-in customer's own overview (the dashboard of /account/ as JSON)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import cast

from django.http import HttpRequest
from ninja import Router, Schema

from patron.accounts.auth import JWTAuth
from patron.accounts.models import User
from patron.success import services

router = Router(tags=["me"])


class TrackingOut(Schema):
    status: str
    status_label: str
    at: datetime
    location: str
    description: str


class OrderInProgressOut(Schema):
    number: str
    status: str
    status_label: str
    placed_at: datetime
    total: Decimal
    currency: str
    tracking: TrackingOut | None


class ReviewWaitingOut(Schema):
    product_id: int
    product_name: str
    product_slug: str
    options: dict[str, str]
    order_number: str
    placed_at: datetime


class NextRewardOut(Schema):
    name: str
    points_needed: int


class LoyaltyOut(Schema):
    program_name: str
    points: int
    pending: int
    value: Decimal
    tier: str | None
    next_tier: str | None
    to_next_tier: Decimal
    tier_basis: str
    tier_percent: int
    rewards_available: int
    next_reward: NextRewardOut | None


class ConversationOut(Schema):
    id: int
    channel: str
    status: str
    status_label: str
    last_message_at: datetime
    store_replied_last: bool
    order_number: str | None


class TicketOut(Schema):
    id: int
    subject: str
    status: str
    status_label: str
    updated_at: datetime
    store_replied_last: bool
    order_number: str | None


class DashboardOut(Schema):
    orders_count: int
    orders_in_progress_count: int
    orders_in_progress: list[OrderInProgressOut]
    reviews_waiting: list[ReviewWaitingOut]
    loyalty: LoyaltyOut | None
    conversations: list[ConversationOut]
    tickets: list[TicketOut]


@router.get(
    "/dashboard",
    response=DashboardOut,
    auth=JWTAuth(),
    summary="Your orders in progress, items to review, points and open support requests",
)
def dashboard(request: HttpRequest) -> services.Dashboard:
    return services.customer_dashboard(cast(User, request.auth))  # type: ignore[attr-defined]
