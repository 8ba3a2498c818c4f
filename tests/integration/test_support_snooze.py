"""Snoozing a support conversation: the service's rules, the job that wakes due ones, the customer's reply that
wakes one at once, and the inbox's and the API's snooze controls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from crontask import scheduler
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings

from patron.accounts.models import User
from patron.accounts.testing import bearer, make_user
from patron.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from patron.support import chat, services, tasks
from patron.support.models import Conversation, ConversationEvent, ConversationStatus, Sender
from tests.concurrency import in_threads, own_database_file, race

pytestmark = pytest.mark.django_db


def handed_over(user: User | None) -> Conversation:
    """A conversation the assistant passed to the team (status open), as the shopper's chat leaves it."""
    first = chat.send(user, "hello")
    chat.send(user, "I want to talk to a person", conversation_id=first.conversation.pk, token=first.conversation.token)
    conversation = Conversation.objects.get(pk=first.conversation.pk)
    assert conversation.status == ConversationStatus.OPEN
    return conversation


def status_events(conversation: Conversation) -> list[tuple[str, str, str]]:
    return list(
        ConversationEvent.objects.filter(conversation=conversation, field="status")
        .order_by("pk")
        .values_list("from_value", "to_value", "note")
    )


def snoozed(conversation: Conversation, staff: User, until: datetime) -> Conversation:
    services.snooze(conversation, until, actor=staff)
    conversation.refresh_from_db()
    return conversation


def make_due(conversation: Conversation, at: datetime) -> None:
    """As if the snooze had been set to end at `at` (the service itself refuses a past end)."""
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=at)


# --- The service ------------------------------------------------------------------------------------------------


def test_staff_snooze_a_conversation_until_a_time_and_the_change_is_recorded(staff: User, customer: User) -> None:
    conversation = handed_over(customer)
    until = timezone.now() + timedelta(days=2)

    returned = services.snooze(conversation, until, actor=staff, note="parcel due Thursday")

    assert (returned.status, returned.snoozed_until) == (ConversationStatus.SNOOZED, until)
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.SNOOZED, until)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED
    assert conversation.snoozed_until == until
    event = ConversationEvent.objects.filter(conversation=conversation, field="status").latest("pk")
    assert (event.from_value, event.to_value, event.actor) == ("open", "snoozed", staff)
    assert event.note.startswith("until ")
    assert event.note.endswith(": parcel due Thursday")
    assert timezone.localtime(until).isoformat(timespec="minutes") in event.note


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (timedelta(minutes=-1), "only be snoozed until a time in the future"),
        (timedelta(0), "only be snoozed until a time in the future"),
        (services.MAX_SNOOZE + timedelta(minutes=1), "at most 90 days"),
    ],
)
def test_a_past_or_too_distant_end_is_refused_and_nothing_changes(
    staff: User, customer: User, offset: timedelta, message: str
) -> None:
    conversation = handed_over(customer)
    before = status_events(conversation)
    now = timezone.now()

    with pytest.raises(ValidationFailed) as refused:
        services.snooze(conversation, now + offset, actor=staff, now=now)

    assert message in refused.value.message
    assert list(refused.value.fields) == ["until"]
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.OPEN, None)
    assert status_events(conversation) == before


def test_the_longest_snooze_is_accepted(staff: User, customer: User) -> None:
    conversation = handed_over(customer)
    now = timezone.now()
    services.snooze(conversation, now + services.MAX_SNOOZE, actor=staff, now=now)
    assert conversation.status == ConversationStatus.SNOOZED


def test_only_staff_snooze(customer: User) -> None:
    conversation = handed_over(customer)
    until = timezone.now() + timedelta(hours=3)
    with pytest.raises(PermissionDenied):
        services.snooze(conversation, until, actor=customer)
    with pytest.raises(NotAuthenticated):
        services.snooze(conversation, until, actor=None)
    # Nor through the generic status change.
    with pytest.raises(PermissionDenied):
        services.set_status(conversation, ConversationStatus.SNOOZED, actor=customer, until=until)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    assert not ConversationEvent.objects.filter(conversation=conversation, to_value="snoozed").exists()


def test_snoozing_again_moves_the_end_and_records_it_once(staff: User, customer: User) -> None:
    conversation = handed_over(customer)
    first = timezone.now() + timedelta(hours=2)
    later = first + timedelta(days=1)
    snoozed(conversation, staff, first)

    services.snooze(conversation, later, actor=staff)
    services.snooze(conversation, later, actor=staff)  # the same end again changes nothing

    conversation.refresh_from_db()
    assert conversation.snoozed_until == later
    assert [e[1] for e in status_events(conversation)].count("snoozed") == 1
    [moved] = ConversationEvent.objects.filter(conversation=conversation, field="snoozed_until")
    assert moved.actor == staff
    assert moved.from_value and moved.to_value and moved.from_value != moved.to_value


def test_snoozing_needs_an_end_and_any_other_status_clears_it(staff: User, customer: User) -> None:
    conversation = handed_over(customer)
    with pytest.raises(ValidationFailed) as refused:
        services.set_status(conversation, ConversationStatus.SNOOZED, actor=staff)
    assert "until" in refused.value.fields

    snoozed(conversation, staff, timezone.now() + timedelta(hours=5))
    services.set_status(conversation, ConversationStatus.RESOLVED, actor=staff)

    assert conversation.snoozed_until is None
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.RESOLVED, None)
    assert status_events(conversation)[-1][:2] == ("snoozed", "resolved")


def test_presets_are_an_hour_ahead_or_nine_in_the_morning_on_the_stores_clock(settings: Settings) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    # Friday 27 March 2026, 23:30 in Paris (UTC+1); summer time (UTC+2) starts on Sunday the 29th.
    friday_night = datetime(2026, 3, 27, 22, 30, tzinfo=UTC)
    assert services.snooze_until("1h", friday_night) == datetime(2026, 3, 27, 23, 30, tzinfo=UTC)
    assert services.snooze_until("tomorrow", friday_night) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert services.snooze_until("next_week", friday_night) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    # An hour later it is already Saturday in Paris, though still Friday in UTC.
    saturday = friday_night + timedelta(hours=1)
    assert services.snooze_until("tomorrow", saturday) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # On a Monday, "next week" is the Monday after, not today.
    monday = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert services.snooze_until("next_week", monday) == datetime(2026, 4, 6, 7, 0, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        services.snooze_until("someday", monday)


def test_a_time_without_a_zone_is_read_on_the_stores_clock(settings: Settings, staff: User, customer: User) -> None:
    settings.TIME_ZONE = "America/New_York"
    conversation = handed_over(customer)
    now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 08:00 in New York (UTC-4)
    services.snooze(conversation, datetime(2026, 7, 1, 9, 30), actor=staff, now=now)
    assert conversation.snoozed_until == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    # 07:30 in New York is already past, though 07:30 UTC would not be.
    with pytest.raises(ValidationFailed):
        services.snooze(conversation, datetime(2026, 7, 1, 7, 30), actor=staff, now=now)


# --- The wake-up job --------------------------------------------------------------------------------------------


def test_the_job_reopens_due_conversations_only_and_running_it_again_changes_nothing(
    staff: User, customer: User
) -> None:
    now = timezone.now()
    due = snoozed(handed_over(customer), staff, now + timedelta(hours=1))
    just_due = snoozed(handed_over(None), staff, now + timedelta(hours=1))
    not_yet = snoozed(handed_over(None), staff, now + timedelta(hours=1))
    make_due(due, now - timedelta(minutes=10))
    make_due(just_due, now)
    make_due(not_yet, now + timedelta(minutes=1))

    assert services.wake_due_conversations(now) == 2
    assert services.wake_due_conversations(now) == 0

    for woken in (due, just_due):
        woken.refresh_from_db()
        assert (woken.status, woken.snoozed_until) == (ConversationStatus.OPEN, None)
        endings = [e for e in status_events(woken) if e[:2] == ("snoozed", "open")]
        assert endings == [("snoozed", "open", services.SNOOZE_ENDED)]
        assert ConversationEvent.objects.filter(conversation=woken).latest("pk").actor is None
    not_yet.refresh_from_db()
    assert not_yet.status == ConversationStatus.SNOOZED
    assert not_yet.snoozed_until == now + timedelta(minutes=1)

    assert services.wake_due_conversations(now + timedelta(minutes=1)) == 1
    not_yet.refresh_from_db()
    assert not_yet.status == ConversationStatus.OPEN


def test_the_job_wakes_more_than_one_batch(staff: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "WAKE_BATCH", 2)
    now = timezone.now()
    conversations = [snoozed(handed_over(None), staff, now + timedelta(hours=1)) for _ in range(5)]
    for conversation in conversations:
        make_due(conversation, now - timedelta(seconds=1))
    assert services.wake_due_conversations(now) == 5
    assert not Conversation.objects.filter(status=ConversationStatus.SNOOZED).exists()


def test_the_scheduler_runs_the_wake_up_every_minute(staff: User) -> None:
    [job] = [job for job in scheduler.get_jobs() if job.name == tasks.wake_snoozed_conversations.name]
    now = datetime(2026, 11, 28, 10, 1, 30, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 28, 10, 2, tzinfo=UTC)

    conversation = snoozed(handed_over(None), staff, timezone.now() + timedelta(hours=1))
    make_due(conversation, timezone.now() - timedelta(minutes=1))
    assert tasks.wake_snoozed_conversations.call() == 1
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


@race
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_waking_at_once_reopen_each_conversation_once(tmp_path: Path) -> None:
    staff = make_user("grace@example.com", is_staff=True)
    now = timezone.now()
    conversations = [snoozed(handed_over(None), staff, now + timedelta(hours=1)) for _ in range(6)]
    for conversation in conversations:
        make_due(conversation, now - timedelta(minutes=1))

    with own_database_file(tmp_path):
        woken = in_threads(3, lambda: services.wake_due_conversations(now))
        [endings] = in_threads(
            1,
            lambda: list(
                ConversationEvent.objects.filter(note=services.SNOOZE_ENDED).values_list("conversation_id", flat=True)
            ),
        )

    assert sum(woken) == 6
    assert sorted(endings) == sorted(c.pk for c in conversations)


# --- The customer writing ---------------------------------------------------------------------------------------


def test_the_customers_message_wakes_a_snoozed_conversation_at_once(staff: User, customer: User) -> None:
    conversation = snoozed(handed_over(customer), staff, timezone.now() + timedelta(days=3))
    services.add_note(conversation, "waiting for the courier", actor=staff)  # the team's own note wakes nothing
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED

    result = chat.send(customer, "Any news?", conversation_id=conversation.pk)

    assert result.reply is None  # people handle it, the assistant stays quiet
    assert (result.conversation.status, result.conversation.snoozed_until) == (ConversationStatus.OPEN, None)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.OPEN, None)
    assert status_events(conversation)[-1] == ("snoozed", "open", services.CUSTOMER_WROTE)
    assert conversation.messages.filter(sender=Sender.CUSTOMER, body="Any news?").exists()
    # The job finds nothing left to wake.
    assert services.wake_due_conversations(timezone.now() + timedelta(days=4)) == 0


# --- The inbox --------------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


def test_staff_snooze_from_the_inbox_with_a_preset_and_see_it_in_the_list(
    staff_client: Client, customer: User, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    conversation = handed_over(customer)
    page = staff_client.get(reverse("support:inbox_conversation", args=[conversation.pk])).content.decode()
    assert 'name="preset" value="tomorrow"' in page
    assert 'type="datetime-local"' in page
    assert '<option value="snoozed"' not in page  # snoozing needs an end: only through its own control

    response = staff_client.post(
        reverse("support:inbox_action", args=[conversation.pk, "snooze"]), {"preset": "tomorrow"}
    )

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED
    assert conversation.snoozed_until == services.snooze_until("tomorrow")
    shown = timezone.localtime(conversation.snoozed_until).strftime("%H:%M")
    page = staff_client.get(response["Location"]).content.decode()
    assert "Snoozed until" in page
    assert shown in page
    waiting = staff_client.get(reverse("support:inbox")).content.decode()
    assert f"/inbox/{conversation.pk}/" not in waiting, "out of the waiting queue until it wakes"
    with django_assert_max_num_queries(8):
        listed = staff_client.get(reverse("support:inbox") + "?status=snoozed").content.decode()
    assert f"Snoozed until {timezone.localtime(conversation.snoozed_until).strftime('%a %-d %b')}" in listed


def test_staff_snooze_until_a_date_and_time_they_type(staff_client: Client, customer: User) -> None:
    conversation = handed_over(customer)
    until = timezone.localtime(timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)

    staff_client.post(
        reverse("support:inbox_action", args=[conversation.pk, "snooze"]), {"until": until.strftime("%Y-%m-%dT%H:%M")}
    )

    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.SNOOZED, until)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"until": "2020-01-01T09:00"}, "Choose a time in the future."),
        ({"until": ""}, "Choose a preset or a date and time."),
        ({"until": "not a date"}, "Enter a valid date/time."),
        ({"preset": "someday"}, "Select a valid choice."),
    ],
)
def test_a_refused_snooze_shows_the_problem_beside_the_field(
    staff_client: Client, customer: User, data: dict[str, str], problem: str
) -> None:
    conversation = handed_over(customer)

    response = staff_client.post(reverse("support:inbox_action", args=[conversation.pk, "snooze"]), data)

    assert response.status_code == 200
    html = response.content.decode()
    assert problem in html
    assert 'aria-invalid="true"' in html or "someday" in str(data)
    if data.get("until"):
        assert f'value="{data["until"]}"' in html  # what the agent typed is kept
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == (ConversationStatus.OPEN, None)


def test_customers_cannot_use_the_inbox_snooze(client: Client, customer: User) -> None:
    conversation = handed_over(customer)
    client.force_login(customer)
    response = client.post(reverse("support:inbox_action", args=[conversation.pk, "snooze"]), {"preset": "1h"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


# --- The API ----------------------------------------------------------------------------------------------------


def snooze_url(conversation_id: int) -> str:
    return f"/api/support/conversations/{conversation_id}/snooze"


def test_staff_snooze_through_the_api_and_the_conversation_shows_its_end(
    client: Client, staff: User, customer: User
) -> None:
    conversation = handed_over(customer)
    until = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    response = client.post(
        snooze_url(conversation.pk),
        {"until": until.isoformat(), "note": "waiting for the carrier"},
        content_type="application/json",
        **bearer(staff),
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "snoozed"
    assert datetime.fromisoformat(body["snoozed_until"]) == until
    conversation.refresh_from_db()
    assert conversation.snoozed_until == until
    assert status_events(conversation)[-1][2].endswith(": waiting for the carrier")
    read = client.get(f"/api/support/conversations/{conversation.pk}", **bearer(staff)).json()
    assert datetime.fromisoformat(read["snoozed_until"]) == until

    preset = client.post(
        snooze_url(conversation.pk), {"preset": "next_week"}, content_type="application/json", **bearer(staff)
    )
    assert preset.status_code == 200
    assert datetime.fromisoformat(preset.json()["snoozed_until"]) == services.snooze_until("next_week")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"until": "2020-01-01T09:00:00Z"}, "until"),
        ({"until": "2999-01-01T09:00:00Z"}, "until"),
        ({"until": "0001-01-01T00:00:00+05:00"}, "until"),
        ({}, "until"),
        ({"until": "tomorrow-ish"}, "until"),
        ({"preset": "someday"}, "preset"),
    ],
)
def test_the_api_refuses_a_bad_end_with_a_json_error(
    client: Client, staff: User, customer: User, payload: dict[str, str], field: str
) -> None:
    conversation = handed_over(customer)

    response = client.post(snooze_url(conversation.pk), payload, content_type="application/json", **bearer(staff))

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"]
    assert field in error["fields"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_customers_and_guests_cannot_snooze_through_the_api(client: Client, staff: User, customer: User) -> None:
    conversation = handed_over(customer)
    payload = {"preset": "1h"}

    own = client.post(snooze_url(conversation.pk), payload, content_type="application/json", **bearer(customer))
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "forbidden"
    anonymous = client.post(snooze_url(conversation.pk), payload, content_type="application/json")
    assert anonymous.status_code == 401
    missing = client.post(snooze_url(conversation.pk + 999), payload, content_type="application/json", **bearer(staff))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
