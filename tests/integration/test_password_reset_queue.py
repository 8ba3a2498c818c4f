"""A password reset request only queues the email, whether or not the address has an account.

The request does the same work either way (no account lookup, no SMTP round trip), so its response time does not
tell which addresses have accounts; `patron worker` later finds the account and sends. These tests use the
project's real queue (django_tasks_db) and run the queued job as the worker does, or the worker itself.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client, TestCase
from django.urls import resolve, reverse
from django_tasks_db.models import DBTaskResult
from pytest_django import Settings

from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user

pytestmark = pytest.mark.django_db

TASK_PATH = "patron.accounts.tasks.send_password_reset_email"
SITE_URL = "https://shop.example.com"
NEW_PASSWORD = "a fresh and long passphrase"


@pytest.fixture(autouse=True)
def site(settings: Settings) -> None:
    settings.SITE_URL = SITE_URL


def ask(client: Client, via: str, email: str) -> HttpResponse:
    """Ask for a reset link on the API or the web, running what the request left for after commit."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        if via == "api":
            body = json.dumps({"email": email})
            return client.post("/api/auth/password/reset", body, content_type="application/json")  # type: ignore[return-value]
        return client.post(reverse("accounts:password_reset"), {"email": email})  # type: ignore[return-value]


def run_job(job: DBTaskResult) -> object:
    """What `patron worker` does with a queued row, inside the test's transaction (the worker itself closes
    database connections between jobs, which only a transactional test survives)."""
    return job.task.call(*job.args_kwargs["args"], **job.args_kwargs["kwargs"])


@pytest.mark.parametrize("via", ["api", "web"])
@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_the_request_sends_nothing_and_queues_one_job_with_no_token(client: Client, via: str, known: bool) -> None:
    if known:
        make_user("ada@example.com")
    email = "ada@example.com" if known else "nobody@example.com"

    response = ask(client, via, email.upper())

    assert response.status_code == (202 if via == "api" else 302)
    assert mail.outbox == []
    job = DBTaskResult.objects.get()
    assert job.task_path == TASK_PATH
    # The normalized address and where the link points, nothing else: the token is made when the email is sent.
    base_url = SITE_URL if via == "api" else "http://testserver"
    assert job.args_kwargs == {"args": [email, base_url], "kwargs": {}}

    assert run_job(job) is known
    assert [message.to for message in mail.outbox] == ([[email]] if known else [])


@pytest.mark.django_db(transaction=True)
def test_the_link_the_worker_sends_resets_the_password(client: Client) -> None:
    user = make_user("ada@example.com")
    assert ask(client, "api", user.email).status_code == 202
    assert mail.outbox == []
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)

    # Outside a test transaction, signing up queued jobs of its own (the loyalty welcome): look at ours only.
    assert DBTaskResult.objects.get(task_path=TASK_PATH).status == "SUCCESSFUL"

    assert len(mail.outbox) == 1
    links = re.findall(r"https?://\S+", str(mail.outbox[0].body))
    assert len(links) == 1 and links[0].startswith(f"{SITE_URL}/")
    match = resolve(urlsplit(links[0]).path)
    body = {"uid": match.kwargs["uidb64"], "token": match.kwargs["token"], "new_password": NEW_PASSWORD}
    confirmed = client.post("/api/auth/password/reset/confirm", json.dumps(body), content_type="application/json")
    assert confirmed.status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)


def test_an_account_gone_by_the_time_the_job_runs_gets_no_mail(client: Client) -> None:
    """The job looks the account up when it runs, not when it was asked for."""
    user = make_user("ada@example.com")
    ask(client, "api", user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert run_job(DBTaskResult.objects.get()) is False
    assert mail.outbox == []
