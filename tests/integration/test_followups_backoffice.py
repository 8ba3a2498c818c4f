"""The follow-up back-office: every flow listed and configurable, the read-only message log, and the feedback
page with the NPS score and trend, CSAT, comments and the detractors to follow up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.followups import feedback
from patron.followups.models import Flow, FlowKey, FollowUp, Message, SurveyKind, SurveyResponse

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> User:
    return make_user("boss@example.com", is_staff=True, is_superuser=True)


def _answer(kind: str, score: int, at: datetime, comment: str = "") -> SurveyResponse:
    detractor = score <= 6 if kind == SurveyKind.NPS else score <= 2
    return SurveyResponse.objects.create(
        kind=kind,
        score=score,
        email=f"c{score}-{at:%m%d}@example.com",
        comment=comment,
        created_at=at,
        updated_at=at,
        follow_up=FollowUp.NEEDED if detractor else FollowUp.NONE,
    )


def test_every_flow_is_listed_and_switched_off_or_delayed_in_the_list(client: Client, superuser: User) -> None:
    client.force_login(superuser)
    html = client.get("/admin/followups/flow/").content.decode()
    assert Flow.objects.count() == 5
    for key in FlowKey:
        assert key.label in html
    flows = list(Flow.objects.order_by("pk"))
    data: dict[str, str] = {
        "form-TOTAL_FORMS": str(len(flows)),
        "form-INITIAL_FORMS": str(len(flows)),
        "_save": "Save",
    }
    for index, flow in enumerate(flows):
        data[f"form-{index}-id"] = str(flow.pk)
        data[f"form-{index}-delay_hours"] = "72" if flow.key == FlowKey.REVIEW_REQUEST else str(flow.delay_hours)
        data[f"form-{index}-reminder_after_hours"] = str(flow.reminder_after_hours)
        if flow.key != FlowKey.ABANDONED_CART:
            data[f"form-{index}-enabled"] = "on"
    assert client.post("/admin/followups/flow/", data).status_code == 302
    assert Flow.objects.get(key=FlowKey.REVIEW_REQUEST).delay_hours == 72
    assert Flow.objects.get(key=FlowKey.ABANDONED_CART).enabled is False


def test_the_message_log_is_read_only(client: Client, superuser: User) -> None:
    message = Message.objects.create(
        flow=FlowKey.NPS, subject_key="order:1", email="ada@example.com", due_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    client.force_login(superuser)
    assert "ada@example.com" in client.get("/admin/followups/message/").content.decode()
    client.post(f"/admin/followups/message/{message.pk}/change/", {"email": "evil@example.com"})
    message.refresh_from_db()
    assert message.email == "ada@example.com"


def test_the_feedback_page_shows_nps_trend_csat_and_who_to_call(client: Client, superuser: User) -> None:
    now = datetime.now(UTC)
    last_month = now.replace(day=1) - timedelta(days=10)
    for score in (10, 9, 9, 8, 3):
        _answer(SurveyKind.NPS, score, now)
    _answer(SurveyKind.NPS, 2, last_month, comment="The parcel came broken")
    _answer(SurveyKind.CSAT, 5, now)
    _answer(SurveyKind.CSAT, 1, now, comment="Nobody answered my question")

    summary = feedback.nps_summary()
    assert (summary.promoters, summary.passives, summary.detractors, summary.score) == (3, 1, 2, 17)
    assert [row.nps.score for row in feedback.nps_by_month(2, now)] == [-100, 40]
    csat = feedback.csat_summary()
    assert (csat.responses, csat.percent_satisfied, csat.average) == (2, 50, 3.0)

    client.force_login(superuser)
    html = client.get("/admin/followups/surveyresponse/feedback/").content.decode()
    assert '<p style="font-size:2.5rem;font-weight:700;margin:0.5rem 0" data-nps>17</p>' in html
    assert "50%" in html and "<svg" in html
    assert "The parcel came broken" in html and "Nobody answered my question" in html

    pks = list(SurveyResponse.objects.filter(follow_up=FollowUp.NEEDED).values_list("pk", flat=True))
    assert len(pks) == 3
    client.post("/admin/followups/surveyresponse/", {"action": "mark_followed_up", "_selected_action": pks})
    assert not SurveyResponse.objects.filter(follow_up=FollowUp.NEEDED).exists()
    assert SurveyResponse.objects.filter(follow_up=FollowUp.DONE, followed_up_by=superuser).count() == 3
