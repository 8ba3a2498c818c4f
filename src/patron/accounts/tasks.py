"""Background jobs of the accounts app (run by `patron worker`)."""

from __future__ import annotations

from django.tasks import task

from patron.accounts import tokens


@task
def purge_expired_refresh_tokens() -> int:
    return tokens.purge_expired_refresh_tokens()
