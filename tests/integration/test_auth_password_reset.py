"""Password reset by email, delivered through a real SMTP server listening on 127.0.0.1."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from patron.accounts.models import User
from patron.accounts.testing import PASSWORD, make_user
from tests.servers import Inbox

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a fresh and long passphrase"


def test_password_reset_through_smtp(client: Client, smtp_inbox: Inbox) -> None:
    user = make_user("ada@example.com")
    page = client.get(reverse("accounts:password_reset")).content.decode()
    assert 'autocomplete="email"' in page

    response = client.post(reverse("accounts:password_reset"), {"email": "ADA@example.com"})
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
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert smtp_inbox.messages == []


def test_weak_new_passwords_are_refused(client: Client, smtp_inbox: Inbox) -> None:
    user = make_user("ada@example.com")
    client.post(reverse("accounts:password_reset"), {"email": user.email})
    link = re.findall(r"https?://\S+", smtp_inbox.messages[0].get_content())[0]
    form_url = client.get(urlsplit(link).path)["Location"]
    response = client.post(form_url, {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
