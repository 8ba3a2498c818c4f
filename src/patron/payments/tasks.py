"""Background jobs of the payments app: upkeep."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.payments import services


@cron("*/15 * * * *")
@task
def retry_payment_voids() -> int:
    """Void again the open payments of cancelled orders whose void met an unreachable provider."""
    return services.retry_voids()
