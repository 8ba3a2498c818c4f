"""Token verification refuses anything not signed by us with HS256 for this issuer and audience."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.test import RequestFactory
from pytest_django import Settings

from patron.accounts import tokens
from patron.accounts.auth import client_ip
from patron.errors import NotAuthenticated


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": "1",
        "iat": now,
        "exp": now + 300,
        "jti": "a" * 32,
        "type": "access",
        "fam": "f" * 32,
    }
    base.update(overrides)
    return base


def sign(payload: dict[str, Any], key: str | None = None) -> str:
    return jwt.encode(payload, key or settings.JWT_SIGNING_KEY, algorithm="HS256")


def test_a_well_formed_token_is_accepted() -> None:
    assert tokens.decode(sign(claims()), "access")["sub"] == "1"


def test_alg_none_is_rejected() -> None:
    forged = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims())}."
    with pytest.raises(NotAuthenticated):
        tokens.decode(forged, "access")


def test_a_token_signed_with_another_key_is_rejected() -> None:
    with pytest.raises(NotAuthenticated):
        tokens.decode(sign(claims(), key="not-the-signing-key-of-this-store-at-all"), "access")


@pytest.mark.parametrize(
    "override",
    [{"aud": "someone-else"}, {"iss": "someone-else"}, {"exp": int(time.time()) - 10}],
    ids=["wrong-audience", "wrong-issuer", "expired"],
)
def test_wrong_audience_issuer_or_expiry_is_rejected(override: dict[str, Any]) -> None:
    with pytest.raises(NotAuthenticated):
        tokens.decode(sign(claims(**override)), "access")


def test_a_token_without_a_jti_is_rejected() -> None:
    payload = claims()
    del payload["jti"]
    with pytest.raises(NotAuthenticated):
        tokens.decode(sign(payload), "access")


def test_token_types_are_not_interchangeable() -> None:
    with pytest.raises(NotAuthenticated):
        tokens.decode(sign(claims(type="refresh")), "access")
    with pytest.raises(NotAuthenticated):
        tokens.decode(sign(claims(type="access")), "refresh")


def test_garbage_is_rejected() -> None:
    with pytest.raises(NotAuthenticated):
        tokens.decode("not.a.token", "access")


def test_client_ip_ignores_forwarded_for_unless_behind_the_proxy(settings: Settings) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert client_ip(request) == "10.0.0.9"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_ip(request) == "198.51.100.7"
