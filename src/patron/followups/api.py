"""/api/followups: the surveys of follow-up emails, shown and answered from the emailed link's token, as the
survey page does (same services, same rules: one answer per survey, a later answer updates it)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import ConfigDict, Field, StrictInt

from patron.followups import services

router = Router(tags=["followups"])


class SubjectOut(Schema):
    type: Literal["order", "conversation"] = Field(description="What the survey is about")
    order_number: str | None
    conversation_id: int | None = Field(description="The support conversation a CSAT survey follows")


class ScaleOut(Schema):
    low: int
    high: int
    low_label: str
    high_label: str


class AnswerOut(Schema):
    score: int
    comment: str
    answered_at: datetime
    updated_at: datetime


SurveyKindName = Literal["nps", "csat"]


class SurveyOut(Schema):
    kind: SurveyKindName
    question: str
    scale: ScaleOut
    subject: SubjectOut
    answered: bool
    answer: AnswerOut | None
    comment_max_length: int


class AnswerIn(Schema):
    # Unknown fields are refused so that nothing but the answer (e.g. not a follow-up flag) can be sent in.
    model_config = ConfigDict(extra="forbid")

    score: StrictInt
    comment: str | None = Field(default=None, description='Left out: the comment given before stays; "" removes it')


def _out(survey: services.Survey) -> SurveyOut:
    answer = survey.response
    return SurveyOut(
        kind=cast(SurveyKindName, survey.kind),
        question=survey.question,
        scale=ScaleOut(low=survey.low, high=survey.high, low_label=survey.low_label, high_label=survey.high_label),
        subject=SubjectOut(
            type="conversation" if survey.conversation_id is not None else "order",
            order_number=survey.order_number,
            conversation_id=survey.conversation_id,
        ),
        answered=answer is not None,
        answer=(
            AnswerOut(
                score=answer.score,
                comment=answer.comment,
                answered_at=answer.created_at,
                updated_at=answer.updated_at,
            )
            if answer is not None
            else None
        ),
        comment_max_length=services.COMMENT_MAX_LENGTH,
    )


def _private(response: HttpResponse) -> None:
    # The token is the customer's key to their answer: no shared cache may keep it.
    response["Cache-Control"] = "private, no-store"


@router.get(
    "/surveys/{token}",
    response=SurveyOut,
    summary="What an emailed survey link asks, and the answer given so far",
    description="`token` is the last part of the email's survey link (`/followups/survey/{token}/`). "
    "404 for an unknown or forged link, 410 (`link_expired`) for one older than FOLLOWUPS_LINK_MAX_AGE_DAYS.",
)
def get_survey(request: HttpRequest, response: HttpResponse, token: str) -> SurveyOut:
    _private(response)
    return _out(services.open_survey(token))


@router.post(
    "/surveys/{token}",
    response=SurveyOut,
    summary="Answer an emailed survey",
    description="Records the score (NPS 0-10, CSAT 1-5) and optional comment, as the survey page does; answering "
    "again updates the answer. The email's one-click buttons carry `?score=`: post that score here.",
)
def answer_survey(request: HttpRequest, response: HttpResponse, token: str, payload: AnswerIn) -> SurveyOut:
    _private(response)
    survey = services.open_survey(token)
    return _out(services.answer_survey(survey, payload.score, payload.comment))
