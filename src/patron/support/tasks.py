"""Background jobs of support: snoozed conversations reopened when their snooze ends."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.support import services


@cron("* * * * *")
@task
def wake_snoozed_conversations() -> int:
    """Every minute, so a conversation snoozed "for 1 hour" is back in the inbox within a minute of the hour."""
    return services.wake_due_conversations()
