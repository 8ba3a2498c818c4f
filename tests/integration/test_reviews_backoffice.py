"""The reviews back-office: moderation actions, the public reply, a verified badge nobody can edit, Q&A answers,
the merchant's settings, and the insights page with its rating trend and themes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.catalog.models import Product
from patron.reviews import insights, services
from patron.reviews.models import Answer, Review, ReviewSettings, Status
from patron.reviews.services import ReviewInput
from tests.factories import make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> User:
    return make_user("boss@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def scarf() -> Product:
    return make_product("Wool Scarf")


def test_staff_approve_and_reject_held_reviews_and_reply(client: Client, superuser: User, scarf: Product) -> None:
    ReviewSettings.objects.update_or_create(pk=1, defaults={"auto_publish": False})
    review = services.create_review(make_user("ada@example.com"), scarf.pk, ReviewInput(rating=4, comment="Warm"))
    client.force_login(superuser)
    changelist = "/admin/reviews/review/"
    assert "Insights" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "approve", "_selected_action": [review.pk]})
    review.refresh_from_db()
    assert review.status == Status.PUBLISHED and services.rating_summary(scarf.pk).review_count == 1

    response = client.post(
        f"{changelist}{review.pk}/change/",
        {
            "incentivized": "on",
            "public_reply": "Thank you, Ada!",
            "verified": "on",
            "photos-TOTAL_FORMS": "0",
            "photos-INITIAL_FORMS": "0",
            "reports-TOTAL_FORMS": "0",
            "reports-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    review.refresh_from_db()
    assert (review.incentivized, review.reply, review.replied_by) == (True, "Thank you, Ada!", superuser)
    assert review.verified is False  # shown to staff, never editable

    client.post(changelist, {"action": "reject", "_selected_action": [review.pk]})
    assert Review.objects.get(pk=review.pk).status == Status.REJECTED


def test_staff_answer_questions_from_the_back_office(client: Client, superuser: User, scarf: Product) -> None:
    question = services.ask_question(make_user("ada@example.com"), scarf.pk, "Is it itchy?")
    client.force_login(superuser)
    response = client.post(
        f"/admin/reviews/question/{question.pk}/change/",
        {"staff_answer": "No, it is merino.", "answers-TOTAL_FORMS": "0", "answers-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302
    answer = Answer.objects.get()
    assert (answer.body, answer.by_staff, answer.status) == ("No, it is merino.", True, Status.PUBLISHED)
    assert [q.pk for q in services.answered_questions(scarf.pk)] == [question.pk]


def test_the_settings_page_is_one_row(client: Client, superuser: User) -> None:
    client.force_login(superuser)
    response = client.get("/admin/reviews/reviewsettings/")
    assert response.status_code == 302 and response["Location"].endswith("/admin/reviews/reviewsettings/1/change/")


def test_the_insights_page_charts_the_trend_and_the_themes(client: Client, superuser: User, scarf: Product) -> None:
    texts = {
        5: ["Super soft and warm, true to size.", "So warm, super soft wool.", "Lovely colour and super soft."],
        1: ["Poor quality, it pills after a week.", "Poor quality wool and scratchy.", "Poor quality stitching."],
    }
    number = 0
    for rating, comments in texts.items():
        for comment in comments:
            number += 1
            services.create_review(
                make_user(f"r{number}@example.com"), scarf.pk, ReviewInput(rating=rating, comment=comment)
            )
    client.force_login(superuser)
    html = client.get("/admin/reviews/review/insights/", {"product": scarf.pk}).content.decode()
    assert "<svg" in html and "Average rating per month" in html
    assert "super soft" in html and "poor quality" in html


def test_the_rating_trend_has_every_month_with_its_average(scarf: Product) -> None:
    now = datetime(2026, 6, 15, tzinfo=UTC)
    for number, (day, rating) in enumerate(
        [(datetime(2026, 4, 3, tzinfo=UTC), 2), (datetime(2026, 4, 20, tzinfo=UTC), 5)]
    ):
        services.create_review(make_user(f"t{number}@example.com"), scarf.pk, ReviewInput(rating=rating), now=day)
    services.create_review(
        make_user("june@example.com"), scarf.pk, ReviewInput(rating=4), now=datetime(2026, 6, 1, tzinfo=UTC)
    )
    trend = insights.rating_trend(scarf.pk, months=3, now=now)
    assert [(m.month.isoformat(), m.reviews, m.average) for m in trend] == [
        ("2026-04-01", 2, Decimal("3.50")),
        ("2026-05-01", 0, None),
        ("2026-06-01", 1, Decimal("4.00")),
    ]
