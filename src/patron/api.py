"""The JSON API under /api: one NinjaAPI that mounts each app's router and maps errors to JSON."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from patron.errors import DomainError, RateLimited

api = NinjaAPI(
    title="Patron API",
    version="1.0",
    description="JSON API of the Patron store. Authenticate with `Authorization: Bearer <access token>` "
    "from `POST /api/auth/login`.",
    urls_namespace="api",
)


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = api.create_response(request, error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        location = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path", "payload")]
        fields.setdefault(".".join(location) or "__all__", []).append(str(err.get("msg", "invalid")))
    return api.create_response(
        request, error_body("validation_failed", "The request is not valid.", fields), status=422
    )


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, error_body("not_authenticated", "A valid access token is required."), status=401
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, error_body("http_error", str(exc)), status=exc.status_code)


def mount_routers() -> None:
    from patron.accounts.api import router as accounts_router
    from patron.analytics.api import router as analytics_router
    from patron.cart.api import router as cart_router
    from patron.catalog.api import router as catalog_router
    from patron.followups.api import router as followups_router
    from patron.loyalty.api import router as loyalty_router
    from patron.orders.api import router as orders_router
    from patron.orders.api import shipping_router
    from patron.recommendations.api import router as recommendations_router
    from patron.reviews.api import router as reviews_router
    from patron.success.api import router as success_router
    from patron.support.api import router as support_router

    api.add_router("/auth", accounts_router)
    api.add_router("/products", catalog_router)
    api.add_router("/cart", cart_router)
    api.add_router("/orders", orders_router)
    api.add_router("/shipping", shipping_router)
    api.add_router("/analytics", analytics_router)
    api.add_router("/recommendations", recommendations_router)
    api.add_router("/loyalty", loyalty_router)
    api.add_router("/support", support_router)
    api.add_router("/reviews", reviews_router)
    api.add_router("/followups", followups_router)
    api.add_router("/me", success_router)


mount_routers()
