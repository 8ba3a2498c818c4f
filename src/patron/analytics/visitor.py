"""The anonymous visitor id: a random id in the first-party cookie `patron_vid`, signed so it cannot be made up.

The id is read when a request records an event (or a view asks for it). A request that came without a valid one
gets a fresh id for its events, and when it is a POST (or another unsafe method), `VisitorMiddleware`
(analytics/middleware.py) hands that id out in the cookie of its response:

- Requests that never ask for the id get no cookie: above all the shared, cached catalog pages, which record
  nothing on the server. Their script reports the view to the collect endpoint (a POST), whose response sets the
  cookie; so a cached page never carries anyone's cookie or id, whether served from the cache or rendered for it.
- A page's htmx fragments (cart count, recommendations) load side by side with its first report. Were each
  cookie-less GET to hand out an id, a new visitor's first page would name them twice and keep whichever cookie
  came last, so GETs use a throwaway id until the browser has one; the page's script sends its other reports
  only once the first has come back.

Signing means an id in the cookie was issued here: nobody can write events into another browser's history by
guessing its id, and the per-visitor rate limit of the collect endpoint cannot be dodged by inventing ids.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing
from django.http import HttpRequest

COOKIE_NAME = "patron_vid"
COOKIE_SALT = "patron.analytics.visitor"
COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
ID_BYTES = 16
ID_MAX_LENGTH = 32
_REQUEST_ATTRIBUTE = "_patron_visitor"


@dataclass(frozen=True)
class Visitor:
    id: str
    # Whether the id came in the request's cookie (False: picked for this request, to be handed out).
    known: bool


def new_visitor_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def _from_cookie(request: HttpRequest) -> str | None:
    try:
        value = request.get_signed_cookie(COOKIE_NAME, salt=COOKIE_SALT)
    except (KeyError, signing.BadSignature):
        return None
    return value if value and len(value) <= ID_MAX_LENGTH else None


def visitor(request: HttpRequest) -> Visitor:
    """The request's visitor, read (or picked) once per request."""
    found = getattr(request, _REQUEST_ATTRIBUTE, None)
    if found is None:
        from_cookie = _from_cookie(request)
        found = Visitor(from_cookie, True) if from_cookie else Visitor(new_visitor_id(), False)
        setattr(request, _REQUEST_ATTRIBUTE, found)
    return found


def new_visitor(request: HttpRequest) -> Visitor | None:
    """The visitor picked for this request, when it asked for one and came without a valid cookie."""
    found = getattr(request, _REQUEST_ATTRIBUTE, None)
    return found if found is not None and not found.known else None


def visitor_id(request: HttpRequest) -> str:
    """The anonymous visitor id of the browser behind `request` (cookie `patron_vid`, set by the middleware)."""
    return visitor(request).id
