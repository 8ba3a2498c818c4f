"""/api/followups/surveys/{token}: an app shows and answers the survey of an emailed NPS or CSAT link through the
same services as the survey page, so answers count in the back-office feedback figures, one answer per survey is
updated by later ones, and forged, expired or out-of-range requests are JSON errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from pytest_django import Settings

from patron.accounts.models import User
from patron.catalog.models import Product
from patron.followups import feedback, links, services
from patron.followups.models import FlowKey, FollowUp, Message, SurveyResponse
from patron.orders import services as orders
from patron.orders.models import Order
from patron.reviews.testing import deliver
from tests.factories import make_category, make_product
from tests.order_factories import make_order, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def mug() -> Product:
    return make_product("Stoneware Mug", category=make_category("Kitchen"), price="12.00", stock=50)


@pytest.fixture
def delivered(customer: User, staff: User, mug: Product) -> Order:
    order = make_order([(mug.variants.get(), 1)], user=customer)
    orders.mark_paid(order.pk, pay(order).pk)
    return deliver(order, staff=staff)


@pytest.fixture
def nps(delivered: Order) -> Message:
    [message] = [m for m in services.on_order_delivered(delivered.pk) if m.flow == FlowKey.NPS]
    return message


@pytest.fixture
def conversation_id(customer: User) -> int:
    from patron.support.models import Contact, Conversation

    contact = Contact.objects.create(user=customer, name="Ada Lovelace", email=customer.email)
    return Conversation.objects.create(contact=contact, token="t-1").pk


@pytest.fixture
def csat(conversation_id: int) -> Message:
    message = services.on_conversation_resolved(conversation_id)
    assert message is not None
    return message


def token_of(message: Message) -> str:
    """The token of the survey link the email carries (its last path segment)."""
    return links.survey(message).rstrip("/").rsplit("/", 1)[1]


def url(message: Message | str) -> str:
    return f"/api/followups/surveys/{message if isinstance(message, str) else token_of(message)}"


def post(client: Client, target: Message | str, body: dict[str, Any]) -> Any:
    return client.post(url(target), body, content_type="application/json")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return dict(error)


# --- Showing a survey -------------------------------------------------------------------------------------


def test_an_nps_link_shows_the_question_its_scale_and_the_order(client: Client, nps: Message, delivered: Order) -> None:
    response = client.get(url(nps))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["kind"] == "nps"
    assert body["question"] == "How likely are you to recommend Patron Demo Store to a friend or colleague?"
    assert body["scale"] == {"low": 0, "high": 10, "low_label": "not at all likely", "high_label": "extremely likely"}
    assert body["subject"] == {"type": "order", "order_number": delivered.number, "conversation_id": None}
    assert (body["answered"], body["answer"]) == (False, None)
    assert body["comment_max_length"] == services.COMMENT_MAX_LENGTH


def test_a_csat_link_shows_its_question_and_the_conversation(
    client: Client, csat: Message, conversation_id: int
) -> None:
    body = client.get(url(csat)).json()

    assert body["kind"] == "csat"
    assert body["question"] == "How satisfied are you with the help you got?"
    assert (body["scale"]["low"], body["scale"]["high"]) == (1, 5)
    assert body["subject"]["type"] == "conversation"
    assert body["subject"]["conversation_id"] == conversation_id
    assert body["answered"] is False


def test_showing_a_survey_runs_a_few_queries(client: Client, nps: Message, django_assert_max_num_queries: Any) -> None:
    post(client, nps, {"score": 8})
    with django_assert_max_num_queries(2):
        assert client.get(url(nps)).json()["answered"] is True


# --- Answering -----------------------------------------------------------------------------------------------


def test_an_nps_answer_is_recorded_and_counted_in_the_feedback_summary(
    client: Client, nps: Message, customer: User, delivered: Order
) -> None:
    assert feedback.nps_summary().responses == 0

    response = post(client, nps, {"score": 10, "comment": "  Lovely mug  "})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["answered"] is True
    assert (body["answer"]["score"], body["answer"]["comment"]) == (10, "Lovely mug")
    answer = SurveyResponse.objects.get()
    assert (answer.kind, answer.score, answer.order_id, answer.user_id, answer.message_id) == (
        "nps",
        10,
        delivered.pk,
        customer.pk,
        nps.pk,
    )
    summary = feedback.nps_summary()
    assert (summary.responses, summary.promoters, summary.score) == (1, 1, 100)
    # Answering counts as a click on the email, in the message log, as on the web.
    nps.refresh_from_db()
    assert nps.clicked_at is not None and nps.click_count == 1
    # And the answer is what the survey now shows.
    assert client.get(url(nps)).json()["answer"]["score"] == 10


def test_an_unhappy_csat_answer_is_counted_and_flagged_for_a_call(
    client: Client, csat: Message, conversation_id: int
) -> None:
    assert post(client, csat, {"score": 2}).status_code == 200

    answer = SurveyResponse.objects.get()
    assert (answer.kind, answer.conversation_id, answer.follow_up) == ("csat", conversation_id, FollowUp.NEEDED)
    assert feedback.csat_summary() == feedback.Csat(responses=1, satisfied=0, average=2.0)
    assert answer in feedback.needing_follow_up()


def test_an_answered_survey_is_not_sent_again(client: Client, nps: Message) -> None:
    post(client, nps, {"score": 9})

    assert services.blocked_reason(nps, services.get_flow(FlowKey.NPS)) == "the survey is already answered"


def test_answering_again_updates_the_one_answer_as_the_web_does(client: Client, nps: Message, staff: User) -> None:
    post(client, nps, {"score": 3, "comment": "Late"})
    assert SurveyResponse.objects.get().follow_up == FollowUp.NEEDED

    body = post(client, nps, {"score": 9}).json()

    # One answer per survey: the score is updated, the comment left out stays, and the detractor flag goes.
    answer = SurveyResponse.objects.get()
    assert (answer.score, answer.comment, answer.follow_up) == (9, "Late", FollowUp.NONE)
    assert (body["answer"]["score"], body["answer"]["comment"]) == (9, "Late")
    assert feedback.nps_summary().responses == 1

    # An empty comment removes it; a call staff already made stays recorded.
    services.mark_followed_up(staff, [answer.pk], "Called")
    post(client, nps, {"score": 2, "comment": ""})
    answer.refresh_from_db()
    assert (answer.score, answer.comment, answer.follow_up) == (2, "", FollowUp.DONE)


def test_an_answer_from_the_web_shows_in_the_api_and_the_other_way_round(client: Client, nps: Message) -> None:
    page = f"/followups/survey/{token_of(nps)}/"
    assert client.get(f"{page}?score=4").status_code == 200
    assert client.get(url(nps)).json()["answer"]["score"] == 4

    post(client, nps, {"score": 7, "comment": "Better now"})
    html = client.get(page).content.decode()
    assert re.search(r'<input[^>]*value="7"[^>]*checked', html)
    assert "Better now" in html
    assert SurveyResponse.objects.count() == 1


# --- Refusals ----------------------------------------------------------------------------------------------


def test_a_forged_or_foreign_token_is_a_json_404(client: Client, nps: Message, delivered: Order) -> None:
    genuine = token_of(nps)
    [review_request] = Message.objects.filter(flow=FlowKey.REVIEW_REQUEST)
    forged = [
        genuine[:-2] + ("aa" if not genuine.endswith("aa") else "bb"),
        "not-a-token",
        links.sign(links.UNSUBSCRIBE, m=nps.pk, e=nps.email),  # a genuine link of another kind
        links.sign(links.SURVEY, m=review_request.pk),  # a genuine link to an email without a survey
        links.sign(links.SURVEY, m=10**9),  # a message that does not exist
    ]
    for token in forged:
        assert_error(client.get(url(token)), 404, "not_found")
        assert_error(post(client, token, {"score": 9}), 404, "not_found")
        # The survey page refuses the same links.
        assert client.get(f"/followups/survey/{token}/").status_code == 404
    assert not SurveyResponse.objects.exists()


def test_an_expired_link_is_gone_on_the_api_and_the_web(client: Client, nps: Message, settings: Settings) -> None:
    token = token_of(nps)
    settings.FOLLOWUPS_LINK_MAX_AGE_DAYS = -1  # every link is older than that

    assert_error(client.get(url(token)), 410, "link_expired")
    assert_error(post(client, token, {"score": 9}), 410, "link_expired")
    page = client.get(f"/followups/survey/{token}/?score=9")
    assert page.status_code == 410
    assert "This survey has closed" in page.content.decode()
    assert not SurveyResponse.objects.exists()


@pytest.mark.parametrize(
    ("flow", "body", "fields"),
    [
        ("nps", {"score": 11}, {"score"}),
        ("nps", {"score": -1}, {"score"}),
        ("csat", {"score": 0}, {"score"}),
        ("csat", {"score": 6}, {"score"}),
        ("nps", {"score": 8, "comment": "x" * (services.COMMENT_MAX_LENGTH + 1)}, {"comment"}),
        ("nps", {"score": 12, "comment": "x" * (services.COMMENT_MAX_LENGTH + 1)}, {"score", "comment"}),
        ("nps", {"score": "eight"}, {"score"}),
        ("nps", {"score": True}, {"score"}),
        ("nps", {"comment": "No score"}, {"score"}),
        ("nps", {"score": 8, "follow_up": "done"}, {"follow_up"}),
    ],
)
def test_answers_off_the_scale_or_too_long_are_json_422_with_fields(
    client: Client, request: pytest.FixtureRequest, flow: str, body: dict[str, Any], fields: set[str]
) -> None:
    message: Message = request.getfixturevalue(flow)

    error = assert_error(post(client, message, body), 422, "validation_failed")

    assert set(error["fields"]) == fields
    assert not SurveyResponse.objects.exists()


# --- The survey page, on the same services -----------------------------------------------------------------


def test_the_survey_page_shows_the_scale_and_saves_the_form(client: Client, csat: Message) -> None:
    page = f"/followups/survey/{token_of(csat)}/"
    html = client.get(page).content.decode()
    assert "How satisfied are you with the help you got?" in html
    assert "1: very unsatisfied · 5: very satisfied" in html

    refused = client.post(page, {"score": "9"})
    assert refused.status_code == 200 and not SurveyResponse.objects.exists()

    done = client.post(page, {"score": "5", "comment": "Quick help"})
    assert "Thank you for your feedback" in done.content.decode()
    answer = SurveyResponse.objects.get()
    assert (answer.kind, answer.score, answer.comment) == ("csat", 5, "Quick help")
    assert feedback.csat_summary().satisfied == 1
