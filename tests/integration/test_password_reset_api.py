"""Password reset from the JSON API, and the limits on reset requests and invalid links (API and web form).

Mail goes to Django's locmem outbox (the test runner's backend); the links in it use SITE_URL. A request only
queues the email, after commit: here the queued task runs at once (immediate_tasks) as the request's transaction
would commit.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import resolve, reverse
from django.utils.http import urlsafe_base64_encode
from pytest_django import Settings

from patron.accounts import services, tokens
from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user
from patron.errors import DomainError, RateLimited

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks")]

NEW_PASSWORD = "a fresh and long passphrase"
PER_EMAIL = 3
PER_IP = 5
LINK_FAILURES = 4
WINDOW = 3600
IP = "203.0.113.5"


@pytest.fixture(autouse=True)
def limits(settings: Settings) -> None:
    settings.PASSWORD_RESET_MAX_REQUESTS_PER_EMAIL = PER_EMAIL
    settings.PASSWORD_RESET_MAX_REQUESTS_PER_IP = PER_IP
    settings.PASSWORD_RESET_MAX_LINK_FAILURES_PER_IP = LINK_FAILURES
    settings.PASSWORD_RESET_WINDOW_SECONDS = WINDOW
    settings.SITE_URL = "https://shop.example.com"


@pytest.fixture
def user() -> User:
    return make_user("ada@example.com")


def post(client: Client, path: str, body: dict[str, Any], ip: str = IP) -> Any:
    return client.post(f"/api/auth{path}", json.dumps(body), content_type="application/json", REMOTE_ADDR=ip)


def ask(client: Client, email: str, ip: str = IP) -> Any:
    # The test's transaction never commits: run what the request left for after commit (queueing the email).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return post(client, "/password/reset", {"email": email}, ip=ip)


def confirm(client: Client, uid: str, token: str, new_password: str = NEW_PASSWORD, ip: str = IP) -> Any:
    return post(client, "/password/reset/confirm", {"uid": uid, "token": token, "new_password": new_password}, ip=ip)


def emailed_link() -> tuple[str, str, str]:
    """The only link of the only email sent: (link, uid, token)."""
    assert len(mail.outbox) == 1
    links = re.findall(r"https?://\S+", str(mail.outbox[0].body))
    assert len(links) == 1
    match = resolve(urlsplit(links[0]).path)
    assert match.view_name == "accounts:password_reset_confirm"
    return links[0], match.kwargs["uidb64"], match.kwargs["token"]


def test_the_api_emails_a_link_whose_uid_and_token_reset_the_password(client: Client, user: User) -> None:
    response = ask(client, "ADA@example.com")
    assert response.status_code == 202
    assert "detail" in response.json()

    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert "Reset your password" in message.subject
    link, uid, token = emailed_link()
    # Asked from the API, the link points at the store's public address.
    assert link.startswith("https://shop.example.com/")

    assert confirm(client, uid, token).status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    # The link works once only.
    used = confirm(client, uid, token, "yet another long passphrase")
    assert used.status_code == 400
    assert used.json()["error"]["code"] == "invalid_reset_link"


def test_unknown_address_gets_the_same_answer_and_no_mail(client: Client, user: User) -> None:
    known = ask(client, user.email)
    mail.outbox.clear()
    unknown = ask(client, "nobody@example.com")
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert mail.outbox == []


def test_inactive_accounts_get_no_mail(client: Client, user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert ask(client, user.email).status_code == 202
    assert mail.outbox == []


def test_a_malformed_address_is_a_field_error(client: Client) -> None:
    response = ask(client, "not an email")
    assert response.status_code == 422
    assert "email" in response.json()["error"]["fields"]
    assert mail.outbox == []


def test_a_wrong_token_is_refused_and_the_password_stays(client: Client, user: User) -> None:
    ask(client, user.email)
    _, uid, token = emailed_link()
    for bad_uid, bad_token in (
        (uid, token[:-1] + ("x" if token[-1] != "x" else "y")),
        (uid, "nonsense"),
        ("!!", token),
    ):
        response = confirm(client, bad_uid, bad_token)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_reset_link"
        assert error["message"]
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


def test_a_link_for_another_account_does_not_work(client: Client, user: User) -> None:
    other = make_user("grace@example.com")
    ask(client, user.email)
    _, _, token = emailed_link()
    other_uid = urlsafe_base64_encode(str(other.pk).encode())
    assert confirm(client, other_uid, token).status_code == 400
    assert User.objects.get(pk=other.pk).check_password(PASSWORD)


def test_a_weak_password_is_refused_with_a_field_error(client: Client, user: User) -> None:
    ask(client, user.email)
    _, uid, token = emailed_link()
    response = confirm(client, uid, token, "123")
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["new_password"]
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    # The link was not used up by the refusal.
    assert confirm(client, uid, token).status_code == 204


def test_a_reset_signs_out_every_session_and_the_new_password_signs_in(client: Client, user: User) -> None:
    old = tokens.issue_tokens(user)
    ask(client, user.email)
    _, uid, token = emailed_link()
    assert confirm(client, uid, token).status_code == 204

    refreshed = post(client, "/refresh", {"refresh": old.refresh})
    assert refreshed.status_code == 401
    me = client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {old.access}")
    assert me.status_code == 401
    assert post(client, "/login", {"email": user.email, "password": PASSWORD}).status_code == 401
    login = post(client, "/login", {"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 200
    assert login.json()["access"]


def test_a_reset_also_ends_web_sessions(client: Client, user: User) -> None:
    browser = Client()
    browser.force_login(user)
    assert browser.get(reverse("accounts:profile")).status_code == 200
    ask(client, user.email)
    _, uid, token = emailed_link()
    assert confirm(client, uid, token).status_code == 204
    assert browser.get(reverse("accounts:profile")).status_code == 302


def test_a_reset_lifts_a_sign_in_lockout(client: Client, user: User, settings: Settings) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    for n in range(2):
        post(client, "/login", {"email": user.email, "password": "wrong"}, ip=f"198.51.100.{n}")
    assert post(client, "/login", {"email": user.email, "password": PASSWORD}).status_code == 429
    ask(client, user.email)
    _, uid, token = emailed_link()
    assert confirm(client, uid, token).status_code == 204
    assert post(client, "/login", {"email": user.email, "password": NEW_PASSWORD}).status_code == 200


# Limits on reset requests


def test_per_address_limit_answers_429_and_sends_nothing(client: Client, user: User) -> None:
    for n in range(PER_EMAIL):
        # From different networks, so that only the per-address limit can apply.
        assert ask(client, user.email, ip=f"198.51.100.{n}").status_code == 202
    assert len(mail.outbox) == PER_EMAIL
    mail.outbox.clear()

    blocked = ask(client, "Ada@Example.com", ip="192.0.2.1")
    assert blocked.status_code == 429
    error = blocked.json()["error"]
    assert error["code"] == "rate_limited"
    assert "password reset requests" in error["message"]
    assert 0 < int(blocked["Retry-After"]) <= WINDOW
    assert mail.outbox == []
    # Another address from the same network is unaffected.
    make_user("grace@example.com")
    assert ask(client, "grace@example.com", ip="192.0.2.1").status_code == 202
    assert len(mail.outbox) == 1


def test_unknown_addresses_count_against_the_limit_too(client: Client) -> None:
    """Otherwise the 429 would tell which addresses have accounts."""
    for n in range(PER_EMAIL):
        assert ask(client, "nobody@example.com", ip=f"198.51.100.{n}").status_code == 202
    assert ask(client, "nobody@example.com", ip="192.0.2.1").status_code == 429


def test_per_ip_limit_spans_many_addresses(client: Client, user: User) -> None:
    attacker = "203.0.113.66"
    for n in range(PER_IP):
        assert ask(client, f"someone{n}@example.com", ip=attacker).status_code == 202
    blocked = ask(client, user.email, ip=attacker)
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert mail.outbox == []
    # The address itself is not blocked from elsewhere.
    assert ask(client, user.email, ip="192.0.2.10").status_code == 202
    assert len(mail.outbox) == 1


def test_the_service_raises_rate_limited_without_sending(user: User) -> None:
    for _ in range(PER_EMAIL):
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.request_password_reset(user.email, ip=None)
    assert len(mail.outbox) == PER_EMAIL
    mail.outbox.clear()
    with pytest.raises(RateLimited) as excinfo, TestCase.captureOnCommitCallbacks(execute=True) as queued:
        services.request_password_reset(user.email, ip=None)
    assert 0 < excinfo.value.retry_after <= WINDOW
    assert queued == []
    assert mail.outbox == []


# Limits on invalid links


def test_guessing_tokens_is_limited_per_ip_even_for_a_then_valid_link(client: Client, user: User) -> None:
    ask(client, user.email, ip="192.0.2.1")
    _, uid, token = emailed_link()
    guesser = "203.0.113.99"
    for n in range(LINK_FAILURES):
        assert confirm(client, uid, f"guess-{n}", ip=guesser).status_code == 400
    blocked = confirm(client, uid, token, ip=guesser)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    # The owner, elsewhere, still can.
    assert confirm(client, uid, token, ip="192.0.2.1").status_code == 204


def test_web_link_guesses_count_against_the_same_limit(client: Client, user: User) -> None:
    uid = urlsafe_base64_encode(str(user.pk).encode())
    for n in range(LINK_FAILURES):
        url = reverse("accounts:password_reset_confirm", args=[uid, f"guess-{n}"])
        page = client.get(url, REMOTE_ADDR=IP)
        assert page.status_code == 200
        assert "no longer valid" in page.content.decode()
    blocked = client.get(reverse("accounts:password_reset_confirm", args=[uid, "guess-x"]), REMOTE_ADDR=IP)
    assert blocked.status_code == 429
    assert "Too many invalid password reset links" in blocked.content.decode()
    assert confirm(client, uid, "guess-y").status_code == 429


def test_the_service_refuses_a_wrong_link_with_a_domain_error(user: User) -> None:
    uid = urlsafe_base64_encode(str(user.pk).encode())
    with pytest.raises(DomainError) as excinfo:
        services.reset_password(uid, "wrong-token", NEW_PASSWORD)
    assert excinfo.value.code == "invalid_reset_link"
    assert excinfo.value.status == 400
