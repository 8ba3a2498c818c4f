"""Request authentication for the API (bearer access tokens) and request helpers shared with the web views.

Other apps protect endpoints with `auth=JWTAuth()` (then `request.auth` is the User) or, for the
back-office API, `auth=StaffJWTAuth()`; inside a service, `staff_required(user)` guards staff-only rules.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from patron.accounts import tokens
from patron.accounts.models import User
from patron.errors import NotAuthenticated, PermissionDenied

_ACCESS_ATTRIBUTE = "_patron_access_token"


class JWTAuth(HttpBearer):
    """`Authorization: Bearer <access token>`; expired, forged, revoked or refresh tokens give 401."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        try:
            access = tokens.authenticate_access(token)
        except NotAuthenticated:
            return None
        setattr(request, _ACCESS_ATTRIBUTE, access)
        return access.user


class StaffJWTAuth(JWTAuth):
    """Like JWTAuth, but a signed-in customer gets 403 instead of reaching the endpoint."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = super().authenticate(request, token)
        return staff_required(user) if user is not None else None


def staff_required(user: User | None) -> User:
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("Only staff may do this.")
    return user


def access_token(request: HttpRequest) -> tokens.AccessToken:
    """The verified access token of a request that passed JWTAuth."""
    access = getattr(request, _ACCESS_ATTRIBUTE, None)
    if access is None:
        raise NotAuthenticated("A valid access token is required.")
    return cast(tokens.AccessToken, access)


def client_ip(request: HttpRequest) -> str:
    """The address failed sign-ins are counted against.

    Behind the TLS proxy (BEHIND_TLS_PROXY) the last X-Forwarded-For entry is the one the proxy itself
    appended; earlier entries come from the client and could be forged to dodge the limit.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1][:64]
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
