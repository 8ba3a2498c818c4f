"""Background jobs of the accounts app (run by `patron worker`)."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.accounts import tokens


@cron("17 3 * * *")
@task
def purge_expired_refresh_tokens() -> int:
    return tokens.purge_expired_refresh_tokens()
