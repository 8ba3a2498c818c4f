"""Whole-response cache for catalog pages and API reads made by visitors who are not signed in.

Entries are keyed on the catalog version, so any catalog write makes every cached response stale at once.
Signed-in shoppers always get a fresh page because their header (and later their cart) differs, and API
callers with a token never share a response because staff see more than the public does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from patron.catalog.services import catalog_version

View = Callable[..., HttpResponse]
CACHE_HEADER = "X-Page-Cache"
# Headers worth replaying from a cached response; everything else is added again by the middleware.
REPLAYED_HEADERS = ("Content-Type", "Content-Language", "Vary")


def is_partial(request: HttpRequest) -> bool:
    """An htmx swap wants only the fragment; a history restore after a reload needs the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request  # type: ignore[union-attr]


def _cache_key(request: HttpRequest) -> str:
    url = request.build_absolute_uri()
    digest = hashlib.sha256(f"{int(is_partial(request))}:{url}".encode()).hexdigest()
    return f"page:{catalog_version()}:{digest}"


def _request_is_cacheable(request: HttpRequest, *, anonymous_only: bool) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if anonymous_only and (request.user.is_authenticated or "HTTP_AUTHORIZATION" in request.META):
        return False
    # A pending flash message belongs to one visitor and must be shown to them, not cached for everyone.
    return len(get_messages(request)) == 0


def _response_is_cacheable(request: HttpRequest, response: HttpResponse) -> bool:
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        # Rendering a CSRF token would hand one visitor's token to every other visitor.
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
    )


def cache_page_for_visitors(*, anonymous_only: bool = True) -> Callable[[View], View]:
    """Serve the view from the page cache when the page is the same for everyone who may receive it."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not _request_is_cacheable(request, anonymous_only=anonymous_only):
                response = view(request, *args, **kwargs)
            else:
                key = _cache_key(request)
                entry = cache.get(key)
                if entry is not None:
                    response = HttpResponse(entry["content"])
                    for header, value in entry["headers"].items():
                        response[header] = value
                    response[CACHE_HEADER] = "hit"
                else:
                    response = view(request, *args, **kwargs)
                    if _response_is_cacheable(request, response):
                        headers = {h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)}
                        entry = {"content": response.content, "headers": headers}
                        cache.set(key, entry, settings.CATALOG_PAGE_CACHE_SECONDS)
                        response[CACHE_HEADER] = "miss"
            # Full page and htmx fragment share a URL, so shared caches must tell them apart.
            patch_vary_headers(response, ("HX-Request",))
            return response

        return wrapper

    return decorator
