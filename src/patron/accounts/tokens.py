"""API tokens: short-lived JWT access tokens and rotating, database-tracked refresh tokens.

Every refresh token belongs to a family (one sign-in). Refreshing marks the presented token used and
issues the next one in the same family; presenting a used token again means it was copied, so the
whole family is revoked and its access tokens are refused until they would have expired anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from patron.accounts.models import RefreshToken, User
from patron.errors import NotAuthenticated

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "type", "fam"]


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)


@dataclass(frozen=True)
class AccessToken:
    user: User
    jti: str
    family: str
    expires_at: datetime


def _encode(user: User, token_type: TokenType, jti: str, family: str, now: datetime, ttl: int) -> str:
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user.pk),
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "jti": jti,
        "type": token_type,
        "fam": family,
    }
    return jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm=ALGORITHM)


def decode(token: str, expected_type: TokenType) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience, expiry and token type; NotAuthenticated otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.JWT_SIGNING_KEY,
            algorithms=[ALGORITHM],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("The token has expired.", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("The token is not valid.", code="invalid_token") from exc
    if claims.get("type") != expected_type:
        raise NotAuthenticated(f"An {expected_type} token is required.", code="invalid_token")
    return claims


def issue_tokens(user: User, *, family: str | None = None) -> TokenPair:
    now = timezone.now()
    family = family or uuid.uuid4().hex
    refresh_jti = uuid.uuid4().hex
    refresh_ttl = settings.JWT_REFRESH_TTL_SECONDS
    access_ttl = settings.JWT_ACCESS_TTL_SECONDS
    RefreshToken.objects.create(
        jti=refresh_jti, family=family, user=user, issued_at=now, expires_at=now + timedelta(seconds=refresh_ttl)
    )
    return TokenPair(
        access=_encode(user, "access", uuid.uuid4().hex, family, now, access_ttl),
        refresh=_encode(user, "refresh", refresh_jti, family, now, refresh_ttl),
        expires_in=access_ttl,
    )


def _denied_jti_key(jti: str) -> str:
    return f"jwt:denied:jti:{jti}"


def _denied_family_key(family: str) -> str:
    return f"jwt:denied:family:{family}"


def authenticate_access(token: str) -> AccessToken:
    claims = decode(token, "access")
    denied = cache.get_many([_denied_jti_key(claims["jti"]), _denied_family_key(claims["fam"])])
    if denied:
        raise NotAuthenticated("The token has been revoked.", code="token_revoked")
    try:
        user = User.objects.get(pk=int(claims["sub"]), is_active=True)
    except (User.DoesNotExist, ValueError, OverflowError) as exc:
        raise NotAuthenticated("The token is not valid.", code="invalid_token") from exc
    return AccessToken(
        user=user,
        jti=claims["jti"],
        family=claims["fam"],
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
    )


def revoke_family(family: str) -> None:
    RefreshToken.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=timezone.now())
    # Access tokens of the family are not stored; refuse them for as long as any of them can live.
    cache.set(_denied_family_key(family), True, timeout=settings.JWT_ACCESS_TTL_SECONDS)


def revoke_user_tokens(user: User) -> None:
    families = set(RefreshToken.objects.filter(user=user, revoked_at__isnull=True).values_list("family", flat=True))
    for family in families:
        revoke_family(family)


def rotate(refresh_token: str) -> TokenPair:
    claims = decode(refresh_token, "refresh")
    row = RefreshToken.objects.select_related("user").filter(jti=claims["jti"]).first()
    if row is None or row.revoked_at is not None or row.expires_at <= timezone.now() or not row.user.is_active:
        raise NotAuthenticated("The refresh token is not valid.", code="invalid_token")
    with transaction.atomic():
        # Conditional update: of two requests presenting the same token, exactly one wins.
        claimed = RefreshToken.objects.filter(pk=row.pk, used_at__isnull=True, revoked_at__isnull=True).update(
            used_at=timezone.now()
        )
        if claimed:
            return issue_tokens(row.user, family=row.family)
    revoke_family(row.family)
    raise NotAuthenticated("The refresh token has already been used.", code="token_reused")


def logout(access: AccessToken, refresh_token: str | None = None) -> None:
    """End the sign-in: its refresh family is revoked and the access token refused until it expires."""
    families = {access.family}
    if refresh_token:
        claims = decode(refresh_token, "refresh")
        if int(claims["sub"]) != access.user.pk:
            raise NotAuthenticated("The refresh token belongs to another account.", code="invalid_token")
        families.add(claims["fam"])
    for family in families:
        revoke_family(family)
    remaining = int((access.expires_at - timezone.now()).total_seconds()) + 1
    if remaining > 0:
        cache.set(_denied_jti_key(access.jti), True, timeout=remaining)


def purge_expired_refresh_tokens(now: datetime | None = None) -> int:
    """Delete refresh-token rows past their expiry; returns how many went.

    An expired token is refused by its own `exp` claim before its row is looked up, so its row is no longer
    needed to detect re-use."""
    deleted, _ = RefreshToken.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
