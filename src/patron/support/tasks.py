"""Background jobs of support: snoozed conversations reopened when their snooze ends, and agents' replies e-mailed."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.support import email_channel, services


@cron("* * * * *")
@task
def wake_snoozed_conversations() -> int:
    """Every minute, so a conversation snoozed "for 1 hour" is back in the inbox within a minute of the hour."""
    return services.wake_due_conversations()


@task
def send_reply_email(outgoing_id: int) -> bool:
    """An agent's reply on an e-mail conversation, sent here so that a slow mail server never keeps the agent
    waiting."""
    return email_channel.send_reply(outgoing_id)


@cron("*/5 * * * *")
@task
def retry_reply_emails() -> int:
    """Replies whose sending failed (or whose task was lost) go out again, a few times at most."""
    return email_channel.retry_unsent()
