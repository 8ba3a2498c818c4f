"""Background jobs of the recommendations app: the nightly training (`patron scheduler` enqueues it)."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.errors import Conflict
from patron.recommendations import training


@cron("23 2 * * *")
@task
def train_recommendations() -> str:
    """Train and activate a new version; a second worker finds the lock taken and leaves it to the first."""
    try:
        return training.train().label
    except Conflict as error:
        return f"skipped: {error.message}"
