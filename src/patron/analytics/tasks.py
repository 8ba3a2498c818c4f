"""Background jobs of analytics: storing buffered events, the retention purge, and recording placed orders."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.analytics import buffer, services


@cron("* * * * *")
@task
def drain_events() -> int:
    """Store the events buffered in Redis (and in this worker's memory) every minute."""
    return buffer.flush()


@cron("41 3 * * *")
@task
def purge_old_events() -> int:
    return services.purge_old_events()


@task
def record_order_placed(order_id: int) -> bool:
    """Subscriber of OrderPlaced (see patron/events.py)."""
    return services.record_order_placed(order_id)
