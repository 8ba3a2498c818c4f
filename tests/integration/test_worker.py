"""Background work: a job enqueued through Django Tasks is run by `patron worker` from the database queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone

from patron.accounts import tokens
from patron.accounts.models import RefreshToken
from patron.accounts.tasks import purge_expired_refresh_tokens
from patron.accounts.testing import make_user
from patron.cli import ALIASES


def test_worker_is_the_database_queue_worker() -> None:
    assert ALIASES["worker"] == "db_worker"


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_an_enqueued_job_once() -> None:
    user = make_user()
    tokens.issue_tokens(user)
    tokens.issue_tokens(user)
    RefreshToken.objects.filter(pk=RefreshToken.objects.order_by("pk").first().pk).update(  # type: ignore[union-attr]
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    result = purge_expired_refresh_tokens.enqueue()
    assert result.status == TaskResultStatus.READY
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 1
    assert RefreshToken.objects.count() == 1
