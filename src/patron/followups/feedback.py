"""Survey figures for the back-office: NPS (promoters minus detractors, in points), its monthly trend, CSAT."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from patron.followups.models import FollowUp, SurveyKind, SurveyResponse
from patron.reviews.insights import month_start

PROMOTER = 9
PASSIVE = 7
SATISFIED = 4


@dataclass(frozen=True)
class Nps:
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> int | None:
        """-100 to 100; None without answers."""
        if not self.responses:
            return None
        return round(100 * (self.promoters - self.detractors) / self.responses)


def nps(scores: Iterable[int]) -> Nps:
    values = list(scores)
    promoters = sum(score >= PROMOTER for score in values)
    passives = sum(PASSIVE <= score < PROMOTER for score in values)
    return Nps(len(values), promoters, passives, len(values) - promoters - passives)


@dataclass(frozen=True)
class MonthlyNps:
    month: datetime
    nps: Nps


def _counts(kind: str) -> dict[str, Count]:
    if kind == SurveyKind.NPS:
        return {
            "responses": Count("id"),
            "promoters": Count("id", filter=Q(score__gte=PROMOTER)),
            "passives": Count("id", filter=Q(score__gte=PASSIVE, score__lt=PROMOTER)),
        }
    return {"responses": Count("id"), "satisfied": Count("id", filter=Q(score__gte=SATISFIED))}


def nps_summary(since: datetime | None = None) -> Nps:
    answers = SurveyResponse.objects.filter(kind=SurveyKind.NPS)
    if since is not None:
        answers = answers.filter(created_at__gte=since)
    return _nps_from(answers.aggregate(**_counts(SurveyKind.NPS)))


def _nps_from(row: Mapping[str, Any]) -> Nps:
    responses, promoters, passives = int(row["responses"]), int(row["promoters"]), int(row["passives"])
    return Nps(responses, promoters, passives, responses - promoters - passives)


def nps_by_month(months: int = 12, now: datetime | None = None) -> list[MonthlyNps]:
    """NPS of each of the last `months` calendar months that had answers, oldest first."""
    start = month_start(now or timezone.now(), months - 1)
    rows = (
        SurveyResponse.objects.filter(kind=SurveyKind.NPS, created_at__gte=start)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(**_counts(SurveyKind.NPS))
        .order_by("month")
    )
    return [MonthlyNps(row["month"], _nps_from(cast(dict[str, Any], row))) for row in rows]


@dataclass(frozen=True)
class Csat:
    responses: int
    satisfied: int
    average: float | None

    @property
    def percent_satisfied(self) -> int | None:
        """The share answering 4 or 5, the usual CSAT figure."""
        return round(100 * self.satisfied / self.responses) if self.responses else None


def csat_summary(since: datetime | None = None) -> Csat:
    answers = SurveyResponse.objects.filter(kind=SurveyKind.CSAT)
    if since is not None:
        answers = answers.filter(created_at__gte=since)
    row = answers.aggregate(**_counts(SurveyKind.CSAT), average=Avg("score"))
    average = round(float(row["average"]), 2) if row["average"] is not None else None
    return Csat(row["responses"], row["satisfied"], average)


def needing_follow_up(limit: int = 50) -> list[SurveyResponse]:
    return list(
        SurveyResponse.objects.filter(follow_up=FollowUp.NEEDED)
        .select_related("order", "user")
        .order_by("-created_at")[:limit]
    )


def latest_comments(limit: int = 20) -> list[SurveyResponse]:
    return list(SurveyResponse.objects.exclude(comment="").select_related("order").order_by("-updated_at")[:limit])
