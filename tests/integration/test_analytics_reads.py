"""Reading events back (latest views, co-view training data), the retention purge, the scheduled jobs and the
back-office list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crontask import scheduler
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.testing import make_user
from patron.analytics import buffer, services, tasks
from patron.analytics.models import Event, EventName

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def empty_buffer() -> Iterator[None]:
    buffer.discard()
    yield
    buffer.discard()


def viewed(product_id: int, minute: int, *, user_id: int | None = None, visitor_id: str = "") -> None:
    services.track(
        EventName.PRODUCT_VIEWED,
        user_id=user_id,
        visitor_id=visitor_id,
        payload={"product_id": product_id},
        at=START + timedelta(minutes=minute),
    )


# Recently viewed ---------------------------------------------------------------------------------------------------


def latest_views(**actor: Any) -> list[tuple[int, datetime]]:
    sql, params = services.latest_views_sql(**actor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [(product_id, at if isinstance(at, datetime) else datetime.fromisoformat(at)) for product_id, at in rows]


def test_latest_views_are_newest_first_each_product_once_for_the_account_or_the_browser() -> None:
    viewed(1, 0, visitor_id="browser")  # before signing in
    viewed(2, 1, visitor_id="browser")
    viewed(3, 2, user_id=7, visitor_id="browser")
    viewed(1, 3, user_id=7, visitor_id="phone")  # seen again, on another device
    viewed(4, 4, user_id=8, visitor_id="someone-else")
    services.track(EventName.CART_ITEM_ADDED, user_id=7, visitor_id="phone", payload={"product_id": 9})
    buffer.flush()

    by_account = latest_views(user_id=7, limit=12)
    assert [product_id for product_id, _ in by_account] == [1, 3]
    assert by_account[0][1].replace(tzinfo=None) == (START + timedelta(minutes=3)).replace(tzinfo=None)
    assert [product_id for product_id, _ in latest_views(visitor_id="browser", limit=12)] == [3, 2, 1]
    assert [product_id for product_id, _ in latest_views(visitor_id="browser", limit=2)] == [3, 2]
    assert latest_views(visitor_id="nobody", limit=12) == []
    with pytest.raises(ValueError, match="need a user id or a visitor id"):
        services.latest_views_sql(visitor_id="", limit=12)


# Co-view training data ---------------------------------------------------------------------------------------------


def test_product_views_name_each_viewer_and_join_a_browser_to_the_account_it_signed_into() -> None:
    viewed(1, 0, visitor_id="browser")  # anonymous at first ...
    viewed(2, 1, user_id=7, visitor_id="browser")  # ... then signed in on the same browser
    viewed(3, 2, visitor_id="stranger")
    viewed(4, 3, user_id=8)
    viewed(5, -60 * 24, visitor_id="stranger")  # before the window
    buffer.flush()

    views = list(services.product_views(START - timedelta(hours=1)))

    assert views == [
        ("u:7", 1, START),
        ("u:7", 2, START + timedelta(minutes=1)),
        ("v:stranger", 3, START + timedelta(minutes=2)),
        ("u:8", 4, START + timedelta(minutes=3)),
    ]


# Retention ---------------------------------------------------------------------------------------------------------


def test_events_past_the_retention_period_are_purged_in_batches(settings: Settings) -> None:
    settings.ANALYTICS_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (31, 40, 45, 90, 400):
        services.track(EventName.PRODUCT_VIEWED, user_id=1, visitor_id="v", payload={"product_id": days},
                       at=now - timedelta(days=days))  # fmt: skip
    for days in (0, 29):
        services.track(EventName.PRODUCT_VIEWED, user_id=1, visitor_id="v", payload={"product_id": days + 1000},
                       at=now - timedelta(days=days))  # fmt: skip
    buffer.flush()

    with CaptureQueriesContext(connection) as captured:
        assert services.purge_old_events(now, batch=2) == 5
    deletes = [query for query in captured.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    assert list(Event.objects.order_by("product_id").values_list("product_id", flat=True)) == [1000, 1029]
    assert services.purge_old_events(now) == 0


def test_the_jobs_are_scheduled_every_minute_and_nightly() -> None:
    jobs = {job.name: job for job in scheduler.get_jobs()}
    now = datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC)
    drain = jobs[tasks.drain_events.name].trigger.get_next_fire_time(None, now)
    assert drain == datetime(2026, 11, 28, 10, 1, tzinfo=UTC)
    purge = jobs[tasks.purge_old_events.name].trigger.get_next_fire_time(None, now)
    assert purge == datetime(2026, 11, 29, 3, 41, tzinfo=UTC)


# The back-office ---------------------------------------------------------------------------------------------------


def test_staff_see_a_read_only_event_list_filtered_by_name_and_date(django_assert_max_num_queries: Any) -> None:
    admin = make_user("root@example.com", is_staff=True, is_superuser=True)
    for number in range(1, 31):
        viewed(number, number, visitor_id=f"v{number}")
    services.track(EventName.SEARCH_PERFORMED, user_id=None, visitor_id="v1", payload={"query": "mug"})
    buffer.flush()
    client = Client()
    client.force_login(admin)

    with django_assert_max_num_queries(10):
        page = client.get("/admin/analytics/event/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "?name__exact=search_performed" in html
    assert "created_at__gte" in html
    assert "Add event" not in html

    searches = client.get("/admin/analytics/event/", {"name__exact": "search_performed"}).content.decode()
    assert searches.count('<td class="field-name">') == 1
    assert '<td class="field-name">Search performed</td>' in searches
    assert client.get("/admin/analytics/event/add/").status_code == 403
    event = Event.objects.get(name=EventName.SEARCH_PERFORMED)
    detail = client.get(f"/admin/analytics/event/{event.pk}/change/")
    assert detail.status_code == 200
    assert "mug" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/analytics/event/", {"q": "not-a-number"}).status_code == 200
