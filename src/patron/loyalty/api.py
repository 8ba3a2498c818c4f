"""/api/loyalty: the signed-in customer's points, tier and history, rewards and redeeming them, the referral link,
and the points a product earns. Visitors may read the rewards and the estimates; a bearer token personalises them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from patron.accounts.auth import JWTAuth
from patron.accounts.models import User
from patron.loyalty import services
from patron.loyalty.models import PointsEntry, Tier

MAX_ID = 2**63 - 1
ProductId = Annotated[int, Path(ge=1, le=MAX_ID)]

router = Router(tags=["loyalty"])
jwt_auth = JWTAuth()


class Visitor:
    """A caller without a bearer token."""


class OptionalJWTAuth(JWTAuth):
    """No token: a visitor. A token that is sent must be valid: a bad one is a 401, never a quiet visitor."""

    def __call__(self, request: HttpRequest) -> Any:
        if "HTTP_AUTHORIZATION" not in request.META:
            return Visitor()
        return super().__call__(request)


optional_auth = OptionalJWTAuth()


def _user(request: HttpRequest) -> User | None:
    caller = getattr(request, "auth", None)
    return caller if isinstance(caller, User) else None


class TierOut(Schema):
    id: int
    name: str
    threshold: Decimal
    earn_multiplier: Decimal
    perks: list[str]


class ProgressOut(Schema):
    tier: TierOut | None
    tier_until: datetime | None
    next_tier: TierOut | None
    basis: str = Field(description='"points" or "spend": what counts towards a tier within the rolling period.')
    qualifying: Decimal = Field(description="Points (or amount spent) within the period.")
    remaining: Decimal = Field(description="How much more is needed for the next tier.")
    percent: int


class EntryOut(Schema):
    id: int
    kind: str
    points: int = Field(description="Change of the available balance.")
    pending: int = Field(description="Change of the pending balance.")
    description: str
    order_id: int | None
    reward_id: int | None
    available_at: datetime | None
    created_at: datetime


class HistoryOut(Schema):
    items: list[EntryOut]
    total: int
    page: int
    page_size: int
    num_pages: int


class ReferralOut(Schema):
    code: str
    link: str
    invited: int
    rewarded: int


class PointsOut(Schema):
    balance: int
    pending: int
    value: Decimal
    currency: str
    next_release: datetime | None
    expires_at: datetime | None
    progress: ProgressOut
    referral_link: str
    history: HistoryOut


class PageIn(Schema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(services.HISTORY_PAGE_SIZE, ge=1, le=services.MAX_HISTORY_PAGE_SIZE)


class RewardOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    value: Decimal
    product_id: int | None
    points_cost: int
    min_order: Decimal
    valid_days: int
    early_access_until: datetime | None
    can_redeem: bool
    reason: str


class RedeemIn(Schema):
    reward_id: int = Field(ge=1, le=MAX_ID)


class RedeemOut(Schema):
    code: str
    kind: str
    value: Decimal
    expires_at: datetime | None
    min_order: Decimal
    points_spent: int
    balance: int


class EstimateOut(Schema):
    product_id: int
    low: int
    high: int
    tier: str | None


def _tier(tier: Tier | None) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {
        "id": tier.pk,
        "name": tier.name,
        "threshold": tier.threshold,
        "earn_multiplier": tier.earn_multiplier,
        "perks": tier.perks,
    }


def _entry(entry: PointsEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "points": entry.points,
        "pending": entry.pending,
        "description": entry.description,
        "order_id": entry.order_id,
        "reward_id": entry.reward_id,
        "available_at": entry.available_at,
        "created_at": entry.created_at,
    }


@router.get("/points", response=PointsOut, auth=jwt_auth, summary="Your points, tier and history")
def points(request: HttpRequest, query: Query[PageIn]) -> dict[str, Any]:
    user = _user(request)
    summary = services.summary(user)
    page = services.history(user, query.page, query.page_size)
    progress = summary.progress
    return {
        "balance": summary.points,
        "pending": summary.pending,
        "value": summary.value,
        "currency": settings.STORE_CURRENCY,
        "next_release": summary.next_release,
        "expires_at": summary.expires_at,
        "progress": {
            "tier": _tier(progress.tier),
            "tier_until": progress.tier_until,
            "next_tier": _tier(progress.next_tier),
            "basis": progress.basis,
            "qualifying": progress.qualifying,
            "remaining": progress.remaining,
            "percent": progress.percent,
        },
        "referral_link": summary.referral_link,
        "history": {
            "items": [_entry(entry) for entry in page.object_list],
            "total": page.paginator.count,
            "page": page.number,
            "page_size": page.paginator.per_page,
            "num_pages": page.paginator.num_pages,
        },
    }


@router.get("/rewards", response=list[RewardOut], auth=optional_auth, summary="Rewards to spend points on")
def rewards(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "id": option.reward.pk,
            "name": option.reward.name,
            "description": option.reward.description,
            "kind": option.reward.kind,
            "value": option.reward.value,
            "product_id": option.reward.product_id,
            "points_cost": option.reward.points_cost,
            "min_order": option.reward.min_order,
            "valid_days": option.reward.valid_days,
            "early_access_until": option.reward.early_access_until,
            "can_redeem": option.can_redeem,
            "reason": option.reason,
        }
        for option in services.reward_options(_user(request))
    ]


@router.post("/redeem", response={201: RedeemOut}, auth=jwt_auth, summary="Spend points on a reward: its code")
def redeem(request: HttpRequest, payload: RedeemIn) -> Status[dict[str, Any]]:
    redemption = services.redeem_reward(_user(request), payload.reward_id)
    code = redemption.code
    return Status(
        201,
        {
            "code": code.code,
            "kind": code.kind,
            "value": code.value,
            "expires_at": code.ends_at,
            "min_order": code.min_subtotal,
            "points_spent": -redemption.entry.points,
            "balance": redemption.balance,
        },
    )


@router.get("/referral", response=ReferralOut, auth=jwt_auth, summary="Your referral code and invitation link")
def referral(request: HttpRequest) -> services.ReferralStats:
    return services.referral_stats(_user(request))


@router.get(
    "/estimate/{product_id}", response=EstimateOut, auth=optional_auth, summary="Points one unit of a product earns"
)
def estimate(request: HttpRequest, product_id: ProductId) -> dict[str, Any]:
    found = services.estimate_product(product_id, _user(request))
    low, high = (found.low, found.high) if found is not None else (0, 0)
    tier = found.tier.name if found is not None and found.tier is not None else None
    return {"product_id": product_id, "low": low, "high": high, "tier": tier}
