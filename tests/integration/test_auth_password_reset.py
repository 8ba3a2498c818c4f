"""Password reset on the web: by email through a real SMTP server listening on 127.0.0.1, and its limits.

A request only queues the email, after commit: here the queued task runs at once (immediate_tasks) as the
request's transaction would commit.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.http import HttpResponse
from django.test import Client, TestCase
from django.urls import resolve, reverse
from pytest_django import Settings

from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user
from tests.servers import Inbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks")]

NEW_PASSWORD = "a fresh and long passphrase"


def ask(client: Client, email: str, ip: str = "127.0.0.1") -> Any:
    # The test's transaction never commits: run what the request left for after commit (queueing the email).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("accounts:password_reset"), {"email": email}, REMOTE_ADDR=ip)


def test_password_reset_through_smtp(client: Client, smtp_inbox: Inbox) -> None:
    user = make_user("ada@example.com")
    page = client.get(reverse("accounts:password_reset")).content.decode()
    assert 'autocomplete="email"' in page

    response = ask(client, "ADA@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")

    assert len(smtp_inbox.messages) == 1
    message = smtp_inbox.messages[0]
    assert message["To"] == "ada@example.com"
    assert "Reset your password" in message["Subject"]
    body = message.get_content()
    links = re.findall(r"https?://\S+", body)
    assert len(links) == 1
    link = urlsplit(links[0])
    # The absolute link is built from the request that asked for it.
    assert (link.scheme, link.netloc) == ("http", "testserver")

    # Django swaps the token in the link for a session-held one and redirects to the form.
    response = client.get(link.path)
    assert response.status_code == 302
    form_url = response["Location"]
    page = client.get(form_url).content.decode()
    assert "Choose a new password" in page
    assert 'autocomplete="new-password"' in page

    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_complete")

    user.refresh_from_db()
    assert user.password.startswith("argon2$")
    assert not user.check_password(PASSWORD)
    response = client.post(reverse("accounts:login"), {"email": "ada@example.com", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)

    # The link works once only.
    client.logout()
    response = client.get(link.path, follow=True)
    assert "no longer valid" in response.content.decode()


def test_unknown_addresses_get_the_same_answer_and_no_mail(client: Client, smtp_inbox: Inbox) -> None:
    response = ask(client, "nobody@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert smtp_inbox.messages == []


def test_weak_new_passwords_are_refused(client: Client, smtp_inbox: Inbox) -> None:
    user = make_user("ada@example.com")
    ask(client, user.email)
    link = re.findall(r"https?://\S+", smtp_inbox.messages[0].get_content())[0]
    form_url = client.get(urlsplit(link).path)["Location"]
    response = client.post(form_url, {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


def test_a_link_asked_for_on_the_web_works_on_the_api(client: Client, smtp_inbox: Inbox) -> None:
    user = make_user("ada@example.com")
    ask(client, user.email)
    link = re.findall(r"https?://\S+", smtp_inbox.messages[0].get_content())[0]
    match = resolve(urlsplit(link).path)
    body = {"uid": match.kwargs["uidb64"], "token": match.kwargs["token"], "new_password": NEW_PASSWORD}
    response = client.post("/api/auth/password/reset/confirm", json.dumps(body), content_type="application/json")
    assert response.status_code == 204
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    # Used on the API, the link is spent on the web too.
    assert "no longer valid" in client.get(link, follow=True).content.decode()


def _ask_on_the_web(client: Client, email: str, ip: str) -> HttpResponse:
    return ask(client, email, ip)


def test_web_requests_per_address_are_limited_with_a_form_message(client: Client, settings: Settings) -> None:
    settings.PASSWORD_RESET_MAX_REQUESTS_PER_EMAIL = 2
    make_user("ada@example.com")
    for n in range(2):
        assert _ask_on_the_web(client, "ada@example.com", f"198.51.100.{n}").status_code == 302
    assert len(mail.outbox) == 2
    mail.outbox.clear()

    response = _ask_on_the_web(client, "ADA@example.com", "192.0.2.1")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "Too many password reset requests" in page
    assert '<form method="post"' in page
    assert mail.outbox == []


def test_web_requests_per_ip_are_limited_with_a_form_message(client: Client, settings: Settings) -> None:
    settings.PASSWORD_RESET_MAX_REQUESTS_PER_IP = 3
    make_user("ada@example.com")
    for n in range(3):
        assert _ask_on_the_web(client, f"someone{n}@example.com", "203.0.113.66").status_code == 302
    response = _ask_on_the_web(client, "ada@example.com", "203.0.113.66")
    assert response.status_code == 429
    assert "Too many password reset requests" in response.content.decode()
    assert mail.outbox == []
    # The same address from another network still gets its link.
    assert _ask_on_the_web(client, "ada@example.com", "192.0.2.1").status_code == 302
    assert len(mail.outbox) == 1
