"""What the channels that hand agents' replies to someone else to deliver (the mailer, Twilio, Meta) share: the job
that sends again what was never accepted, and delivery states that only move forward.

Each channel keeps its own rules (which rows are unsent, which states exist and how far along each is); these are
the loops around them, so that every channel retries and records alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from django.db.models import QuerySet
from django.utils import timezone

from patron.support.models import Conversation, MessageSocial, MessageText

# Replies sent again in one run of a retry job; the rest wait for the next run.
RETRY_BATCH = 100

Outgoing = MessageText | MessageSocial


class Recorder(Protocol):
    """Keeps a delivery state change in the conversation's history (services.record_*_delivery)."""

    def __call__(self, conversation: Conversation, old: str, new: str, *, note: str = "") -> None: ...


def retry_unsent(unsent: QuerySet[Any], send: Callable[[int], bool], *, older_than_minutes: int) -> int:
    """Send again, oldest first, the replies of `unsent` (never accepted, attempts left) that have waited at least
    `older_than_minutes` (so a reply whose task is about to run is not sent twice); how many went out."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    waiting = list(unsent.filter(created_at__lte=cutoff).order_by("pk").values_list("pk", flat=True)[:RETRY_BATCH])
    return sum(send(pk) for pk in waiting)


def advance(
    outgoing: Outgoing,
    status: str,
    progress: Mapping[Any, int],
    *,
    record: Recorder,
    note: str,
    error: str | None = None,
) -> bool:
    """Move an outgoing message (a row the caller has locked) to `status` if that is further along in `progress`, and
    record the change; False, and nothing changed, for a late or repeated report (providers promise no order)."""
    if progress.get(status, 0) <= progress.get(outgoing.status, 0):
        return False
    old = outgoing.status
    outgoing.status = status
    if error is not None:
        outgoing.error = error[:500]
    outgoing.save(update_fields=["status", "error"])
    record(outgoing.message.conversation, old, status, note=note)
    return True
