"""The recommendation widgets: htmx fragments fetched by the storefront's pages.

Catalog pages are cached and shared between anonymous visitors, so they carry only an empty placeholder
(`recommendations/_slot.html`); each visitor's recommendations come from here and are never cached.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from patron.accounts.models import User
from patron.analytics.visitor import visitor
from patron.cart.services import SESSION_KEY
from patron.errors import ValidationFailed
from patron.recommendations import services


def audience(request: HttpRequest) -> services.Audience:
    """The web shopper: a signed-in customer by account, a visitor by the analytics cookie and session cart."""
    session_key = request.session.session_key or ""
    browser = visitor(request)
    if isinstance(request.user, User) and request.user.is_authenticated:
        return services.Audience(user_id=request.user.pk, visitor_id=browser.id, session_key=session_key)
    return services.Audience(
        user_id=None,
        visitor_id=browser.id,
        session_key=session_key,
        cart_token=request.session.get(SESSION_KEY),
        returning=browser.known,
    )


@never_cache
@require_safe
def widget(request: HttpRequest) -> HttpResponse:
    params = request.GET
    try:
        query = services.parse_query(
            params.get("context", ""),
            kind=params.get("type"),
            product_id=params.get("product_id"),
            category=params.get("category"),
            limit=params.get("limit"),
        )
    except ValidationFailed as error:
        return HttpResponseBadRequest(error.message)
    result = services.recommend(query, audience(request), record_shown=False)
    if not result.items:
        # The placeholder is replaced by nothing: no empty heading on the page.
        return HttpResponse("")
    return render(request, "recommendations/_widget.html", {"recommendations": result})
