"""Background jobs of the accounts app (run by `patron worker`)."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.accounts import services, tokens


@cron("17 3 * * *")
@task
def purge_expired_refresh_tokens() -> int:
    return tokens.purge_expired_refresh_tokens()


@task
def send_password_reset_email(email: str, base_url: str) -> bool:
    """Queued by every accepted reset request, whether or not the address has an account (see services)."""
    return services.send_password_reset_email(email, base_url)
