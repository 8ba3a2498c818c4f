"""Periodic jobs: `patron scheduler` enqueues them on their schedule and `patron worker` runs them."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.job import Job
from crontask import scheduler
from django.core.management import call_command
from django.utils import timezone

from patron.accounts import tasks as accounts_tasks
from patron.cli import ALIASES
from patron.orders import tasks as orders_tasks
from patron.orders.models import OrderStatus
from tests.factories import make_product
from tests.integration.test_serve import patron_env
from tests.order_factories import make_order


def _job(name: str) -> Job:
    jobs = {job.name: job for job in scheduler.get_jobs()}
    return jobs[name]


def test_unpaid_orders_are_expired_every_five_minutes_and_old_tokens_purged_nightly() -> None:
    now = datetime(2026, 11, 28, 10, 1, tzinfo=UTC)
    expiry = _job(orders_tasks.expire_unpaid_orders.name)
    assert expiry.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 28, 10, 5, tzinfo=UTC)
    purge = _job(accounts_tasks.purge_expired_refresh_tokens.name)
    assert purge.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 29, 3, 17, tzinfo=UTC)
    assert ALIASES["scheduler"] == "crontask"


@pytest.mark.django_db(transaction=True)
def test_a_fired_job_is_queued_and_run_once_by_the_worker() -> None:
    variant = make_product("Teapot", stock=3).variants.get()
    stale = make_order([(variant, 2)], email="guest@example.com", placed_at=timezone.now() - timedelta(hours=2))

    _job(orders_tasks.expire_unpaid_orders.name).func()
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)

    stale.refresh_from_db()
    variant.refresh_from_db()
    assert stale.status == OrderStatus.CANCELLED
    assert variant.stock == 3
    assert stale.history.filter(to_status=OrderStatus.CANCELLED).count() == 1


def test_the_scheduler_process_starts_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "patron.cli", "scheduler", "--no-heartbeat"],
        env=patron_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = threading.Event()
    output: list[str] = []

    def follow() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Starting scheduler" in line:
                started.set()
        started.set()

    threading.Thread(target=follow, daemon=True).start()
    try:
        assert started.wait(60), "".join(output)
        assert any("patron.orders" in line for line in output), "".join(output)
        # A scheduler runs until it is stopped; still running after a few seconds means it is in its loop.
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=3)
    finally:
        process.terminate()
    assert process.wait(timeout=30) == 0, "".join(output)
    assert any("Shutting down scheduler" in line for line in output), "".join(output)
