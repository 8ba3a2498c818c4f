"""Background jobs of follow-ups: reactions to order and support events, and the sender of due messages."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.followups import services


@task
def schedule_delivery_followups(order_id: int) -> int:
    return len(services.on_order_delivered(order_id))


@task
def schedule_csat_survey(conversation_id: int) -> bool:
    return services.on_conversation_resolved(conversation_id) is not None


@cron("*/5 * * * *")
@task
def send_due_followups() -> int:
    return services.send_due().sent
