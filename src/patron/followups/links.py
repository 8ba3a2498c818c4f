"""Signed links in follow-up emails: tracked clicks and opens, one-click unsubscribe, surveys and cart restores.

Each link carries its message id (and, for clicks, the destination) signed with the site's key, so nobody can
forge an unsubscribe, answer someone else's survey or turn the click tracker into an open redirect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.http import urlencode

from patron.errors import DomainError, NotFound
from patron.followups.models import Message

SALT = "patron.followups.link"
CLICK = "click"
OPEN = "open"
UNSUBSCRIBE = "unsubscribe"
SURVEY = "survey"
RESTORE = "restore"


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def sign(kind: str, **payload: Any) -> str:
    return signing.dumps({"k": kind, **payload}, salt=SALT, compress=True)


class LinkExpired(DomainError):
    """A genuine link that is too old: the customer is told so (410), not that it never existed."""

    status = 410
    code = "link_expired"


def _payload(kind: str, token: str, *, max_age: timedelta | None = None) -> dict[str, Any] | None:
    data = signing.loads(token, salt=SALT, max_age=max_age)
    return data if isinstance(data, dict) and data.get("k") == kind else None


def load(kind: str, token: str, *, expires: bool = True) -> dict[str, Any]:
    """The payload of a genuine link of this kind; NotFound when forged, altered or of another kind, LinkExpired
    when genuine but too old."""
    max_age = timedelta(days=settings.FOLLOWUPS_LINK_MAX_AGE_DAYS) if expires else None
    try:
        data = _payload(kind, token, max_age=max_age)
    except signing.SignatureExpired:
        # The signature is good, only the age is not; a genuine old link of another kind is still not this one.
        if _payload(kind, token) is None:
            raise NotFound("This link is not valid.") from None
        raise LinkExpired("This link has expired.") from None
    except signing.BadSignature:
        data = None
    if data is None:
        raise NotFound("This link is not valid.")
    return data


def unsign(kind: str, token: str, *, expires: bool = True) -> dict[str, Any] | None:
    """The payload of a genuine link of this kind, or None (forged, altered, of another kind, or too old)."""
    try:
        return load(kind, token, expires=expires)
    except DomainError:
        return None


def tracked(message: Message, url: str) -> str:
    """`url` (absolute, or a path of this site) behind the click tracker."""
    return absolute(reverse("followups:click", args=[sign(CLICK, m=message.pk, u=url)]))


def pixel(message: Message) -> str:
    return absolute(reverse("followups:open", args=[sign(OPEN, m=message.pk)]))


def unsubscribe(message: Message) -> str:
    """The one-click unsubscribe link; it never expires, as the law and the List-Unsubscribe header expect."""
    return absolute(reverse("followups:unsubscribe", args=[sign(UNSUBSCRIBE, m=message.pk, e=message.email)]))


def survey(message: Message, score: int | None = None) -> str:
    path = reverse("followups:survey", args=[sign(SURVEY, m=message.pk)])
    return absolute(path + (f"?{urlencode({'score': score})}" if score is not None else ""))


def restore_cart(message: Message) -> str:
    return absolute(reverse("followups:restore_cart", args=[sign(RESTORE, m=message.pk)]))
