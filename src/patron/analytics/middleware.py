"""Per-response work of analytics: the visitor cookie, and GA4 events for htmx swaps in an HX-Trigger header."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from patron.analytics import ga4
from patron.analytics.visitor import COOKIE_MAX_AGE, COOKIE_NAME, COOKIE_SALT, new_visitor

HX_TRIGGER = "HX-Trigger"
# Requests that may use a throwaway visitor id but never hand one out (see analytics/visitor.py).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class VisitorMiddleware:
    """Hands out the visitor id a request picked because it had none (see analytics/visitor.py), on the response
    only: never into the page cache."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.ANALYTICS_ENABLED:
            self._hand_out_id(request, response)
        events = ga4.queued(request)
        if events and getattr(request, "htmx", False):
            _add_trigger(response, ga4.TRIGGER_EVENT, {"events": events})
        return response

    @staticmethod
    def _hand_out_id(request: HttpRequest, response: HttpResponse) -> None:
        current = new_visitor(request)
        if current is None or request.method in SAFE_METHODS or COOKIE_NAME in response.cookies:
            return
        response.set_signed_cookie(
            COOKIE_NAME,
            current.id,
            salt=COOKIE_SALT,
            max_age=COOKIE_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        # A shared HTTP cache in front of the store must not hand this cookie to the next visitor.
        patch_cache_control(response, private=True)


def _add_trigger(response: HttpResponse, name: str, detail: dict[str, Any]) -> None:
    """Add an event to the response's HX-Trigger header, keeping any the view set (names or a JSON object)."""
    existing = response.get(HX_TRIGGER, "").strip()
    triggers: dict[str, Any]
    if existing.startswith("{"):
        triggers = json.loads(existing)
    else:
        triggers = {part.strip(): None for part in existing.split(",") if part.strip()}
    triggers[name] = detail
    response[HX_TRIGGER] = json.dumps(triggers, separators=(",", ":"))
