"""The token API end to end: sign-up, sign-in, refresh rotation, reuse detection, sign-out and forgeries."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from patron.accounts.models import RefreshToken, User
from patron.accounts.testing import PASSWORD, make_user

pytestmark = pytest.mark.django_db

API = "/api/auth"


def post(client: Client, path: str, body: dict[str, Any] | None = None, **headers: Any) -> Any:
    return client.post(f"{API}{path}", json.dumps(body or {}), content_type="application/json", **headers)


def bearer(access: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def login(client: Client, email: str = "ada@example.com") -> dict[str, Any]:
    response = post(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def assert_401(response: Any) -> None:
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] in {"not_authenticated", "invalid_token", "token_reused"}


@pytest.fixture
def user() -> User:
    return make_user()


def test_register_returns_user_and_working_tokens(client: Client) -> None:
    response = post(client, "/register", {"email": "Grace@Example.com", "password": PASSWORD, "name": "Grace"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["email"] == "grace@example.com"
    assert body["token_type"] == "bearer"
    me = client.get(f"{API}/me", **bearer(body["access"]))
    assert me.status_code == 200
    assert me.json()["name"] == "Grace"


def test_login_returns_a_token_pair(client: Client, user: User) -> None:
    body = login(client, "ADA@example.com")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.JWT_ACCESS_TTL_SECONDS
    claims = jwt.decode(body["access"], options={"verify_signature": False})
    assert claims["type"] == "access"
    assert claims["sub"] == str(user.pk)
    assert claims["jti"]
    assert claims["exp"] - claims["iat"] == settings.JWT_ACCESS_TTL_SECONDS
    assert RefreshToken.objects.filter(user=user, used_at=None, revoked_at=None).count() == 1


def test_wrong_password_is_401_with_json_error(client: Client, user: User) -> None:
    response = post(client, "/login", {"email": "ada@example.com", "password": "wrong password!"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_endpoints_without_a_token_are_401(client: Client) -> None:
    assert_401(client.get(f"{API}/me"))
    assert_401(client.get(f"{API}/me", HTTP_AUTHORIZATION="Bearer"))
    assert_401(client.get(f"{API}/me", HTTP_AUTHORIZATION="Basic YWRhOnB3"))


def test_refresh_rotates_within_the_family(client: Client, user: User) -> None:
    first = login(client)
    response = post(client, "/refresh", {"refresh": first["refresh"]})
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert client.get(f"{API}/me", **bearer(second["access"])).status_code == 200
    old_jti = jwt.decode(first["refresh"], options={"verify_signature": False})["jti"]
    new_jti = jwt.decode(second["refresh"], options={"verify_signature": False})["jti"]
    old, new = RefreshToken.objects.get(jti=old_jti), RefreshToken.objects.get(jti=new_jti)
    assert old.used_at is not None
    assert new.family == old.family
    assert new.used_at is None and new.revoked_at is None


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: Client, user: User) -> None:
    stolen = login(client)
    legit = post(client, "/refresh", {"refresh": stolen["refresh"]}).json()

    replay = post(client, "/refresh", {"refresh": stolen["refresh"]})
    assert_401(replay)
    assert replay.json()["error"]["code"] == "token_reused"

    # Every token of the family is dead now, including the newest refresh and its access token.
    assert_401(post(client, "/refresh", {"refresh": legit["refresh"]}))
    assert_401(client.get(f"{API}/me", **bearer(legit["access"])))
    family = RefreshToken.objects.get(jti=jwt.decode(legit["refresh"], options={"verify_signature": False})["jti"])
    assert not RefreshToken.objects.filter(family=family.family, revoked_at=None).exists()


def test_other_sign_ins_survive_a_revoked_family(client: Client, user: User) -> None:
    phone, laptop = login(client), login(client)
    post(client, "/refresh", {"refresh": phone["refresh"]})
    post(client, "/refresh", {"refresh": phone["refresh"]})
    assert client.get(f"{API}/me", **bearer(laptop["access"])).status_code == 200
    assert post(client, "/refresh", {"refresh": laptop["refresh"]}).status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_logout_revokes_the_access_token_and_the_refresh_family(client: Client, user: User, method: str) -> None:
    tokens = login(client)
    if method == "get":
        response = client.get(f"{API}/logout", **bearer(tokens["access"]))
    else:
        response = post(client, "/logout", {"refresh": tokens["refresh"]}, **bearer(tokens["access"]))
    assert response.status_code == 204
    assert_401(client.get(f"{API}/me", **bearer(tokens["access"])))
    assert_401(post(client, "/refresh", {"refresh": tokens["refresh"]}))


def test_post_logout_without_a_body_works(client: Client, user: User) -> None:
    tokens = login(client)
    response = client.post(f"{API}/logout", b"", content_type="application/json", **bearer(tokens["access"]))
    assert response.status_code == 204
    assert_401(client.get(f"{API}/me", **bearer(tokens["access"])))


def test_logout_requires_an_access_token(client: Client, user: User) -> None:
    tokens = login(client)
    assert_401(client.get(f"{API}/logout", **bearer(tokens["refresh"])))
    assert client.get(f"{API}/me", **bearer(tokens["access"])).status_code == 200


def test_refresh_and_access_tokens_are_not_interchangeable(client: Client, user: User) -> None:
    tokens = login(client)
    assert_401(client.get(f"{API}/me", **bearer(tokens["refresh"])))
    assert_401(post(client, "/refresh", {"refresh": tokens["access"]}))


def test_deactivated_users_lose_api_access(client: Client, user: User) -> None:
    tokens = login(client)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_401(client.get(f"{API}/me", **bearer(tokens["access"])))
    assert_401(post(client, "/refresh", {"refresh": tokens["refresh"]}))


def test_password_change_signs_out_api_sessions(client: Client, user: User) -> None:
    tokens = login(client)
    response = post(
        client,
        "/me/password",
        {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        **bearer(tokens["access"]),
    )
    assert response.status_code == 204
    assert_401(post(client, "/refresh", {"refresh": tokens["refresh"]}))
    assert post(client, "/login", {"email": user.email, "password": "a brand new passphrase"}).status_code == 200


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user: User, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user.pk),
        "iat": now,
        "exp": now + 300,
        "jti": "forged",
        "type": "access",
        "fam": "forged",
    } | overrides


def test_forged_tokens_are_401_with_a_json_error(client: Client, user: User) -> None:
    key = settings.JWT_SIGNING_KEY
    genuine = jwt.encode(_claims(user), key, algorithm="HS256")
    assert client.get(f"{API}/me", **bearer(genuine)).status_code == 200

    forgeries = {
        "alg-none": f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(_claims(user))}.",
        "wrong-key": jwt.encode(_claims(user), "an attacker's guess at the key, long enough", algorithm="HS256"),
        "wrong-audience": jwt.encode(_claims(user, aud="another-api"), key, algorithm="HS256"),
        "wrong-issuer": jwt.encode(_claims(user, iss="evil"), key, algorithm="HS256"),
        "expired": jwt.encode(
            _claims(user, iat=int(time.time()) - 600, exp=int(time.time()) - 300), key, algorithm="HS256"
        ),
    }
    for name, token in forgeries.items():
        response = client.get(f"{API}/me", **bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "not_authenticated", name


def test_an_expired_refresh_row_cannot_be_rotated(client: Client, user: User) -> None:
    tokens = login(client)
    RefreshToken.objects.filter(user=user).update(expires_at=timezone.now())
    assert_401(post(client, "/refresh", {"refresh": tokens["refresh"]}))
