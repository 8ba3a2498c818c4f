"""Background jobs of support: snoozed conversations reopened when their snooze ends, and agents' replies e-mailed,
texted (SMS, WhatsApp) or sent on Messenger and Instagram."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.support import email_channel, services, social_channel, text_channel


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


@task
def send_reply_text(outgoing_id: int) -> bool:
    """An agent's reply on an SMS or WhatsApp conversation, sent to Twilio here so that the agent never waits on it."""
    return text_channel.send_reply(outgoing_id)


@cron("*/5 * * * *")
@task
def retry_reply_texts() -> int:
    """Replies Twilio never accepted (an error, an outage, a lost task) go out again, a few times at most."""
    return text_channel.retry_unsent()


@task
def send_reply_social(outgoing_id: int) -> bool:
    """An agent's reply on a Messenger or Instagram conversation, sent to Meta's Send API here so that the agent never
    waits on it."""
    return social_channel.send_reply(outgoing_id)


@cron("*/5 * * * *")
@task
def retry_reply_social() -> int:
    """Replies Meta never accepted (a transient error, an outage, a lost task) go out again, a few times at most."""
    return social_channel.retry_unsent()
