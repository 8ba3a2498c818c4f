"""Web-wide handling of domain errors raised by services (the API maps them to JSON in patron/api.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse

from patron.errors import NotFound


class NotFoundAs404Middleware:
    """A service's NotFound (someone else's address, an unknown product, a wrong order link) is the 404 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
