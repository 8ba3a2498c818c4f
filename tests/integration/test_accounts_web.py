"""The account pages in the browser's terms: forms, redirects, session sign-in and ownership."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from patron.accounts import services
from patron.accounts.models import Address, User
from patron.accounts.testing import PASSWORD, make_user
from patron.catalog.models import Category

pytestmark = pytest.mark.django_db

ADDRESS = {
    "label": "Home",
    "full_name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "line2": "",
    "city": "London",
    "region": "",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
    "phone": "+44 20 7946 0000",
}


@pytest.fixture
def ada() -> User:
    return make_user("ada@example.com")


@pytest.fixture
def ada_client(client: Client, ada: User) -> Client:
    client.force_login(ada)
    return client


def html(response: Any) -> str:
    return response.content.decode()


def label_for(page: str, label: str) -> dict[str, str]:
    """The attributes of the input that a visible <label> names, so tests read the page as a person does."""
    match = re.search(rf'<label for="(?P<id>[^"]+)"[^>]*>\s*{re.escape(label)}\s*</label>', page)
    assert match, f"no label {label!r}"
    tag = re.search(rf'<input[^>]*\bid="{re.escape(match["id"])}"[^>]*>', page)
    assert tag, f"no input for {label!r}"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def test_register_form_has_labelled_inputs_with_autocomplete(client: Client) -> None:
    page = html(client.get(reverse("accounts:register")))
    assert label_for(page, "Name")["autocomplete"] == "name"
    assert label_for(page, "Email")["type"] == "email"
    assert label_for(page, "Email")["autocomplete"] == "email"
    assert label_for(page, "Password")["autocomplete"] == "new-password"
    assert label_for(page, "Password (again)")["type"] == "password"
    assert "Create account</button>" in page


def test_register_signs_in_and_lands_on_the_account_home(client: Client) -> None:
    response = client.post(
        reverse("accounts:register"),
        {"name": "Grace Hopper", "email": "Grace@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("success:dashboard")
    user = User.objects.get(email="grace@example.com")
    assert client.session[SESSION_KEY] == str(user.pk)
    assert user.password.startswith("argon2$")
    assert "Grace Hopper" in html(client.get(reverse("accounts:profile")))


def test_register_shows_errors_beside_the_fields(client: Client, ada: User) -> None:
    page = html(
        client.post(
            reverse("accounts:register"),
            {"name": "A", "email": "ADA@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
    )
    assert "An account with this email address already exists." in page
    page = html(
        client.post(
            reverse("accounts:register"),
            {"name": "B", "email": "b@example.com", "password1": "short", "password2": "short"},
        )
    )
    assert "too short" in page
    page = html(
        client.post(
            reverse("accounts:register"),
            {"name": "B", "email": "b@example.com", "password1": PASSWORD, "password2": PASSWORD + "x"},
        )
    )
    assert "The two passwords do not match." in page
    assert 'value="b@example.com"' in page
    assert not User.objects.filter(email="b@example.com").exists()


def test_login_page_and_login_by_email(client: Client, ada: User) -> None:
    page = html(client.get(reverse("accounts:login")))
    assert label_for(page, "Email")["autocomplete"] == "email"
    assert label_for(page, "Password")["autocomplete"] == "current-password"
    assert "Log in</button>" in page
    response = client.post(reverse("accounts:login"), {"email": "ADA@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(ada.pk)


def test_login_follows_only_local_next_urls(client: Client, ada: User) -> None:
    url = reverse("accounts:login")
    response = client.post(url, {"email": ada.email, "password": PASSWORD, "next": "/account/addresses/"})
    assert response["Location"] == "/account/addresses/"
    client.logout()
    response = client.post(url, {"email": ada.email, "password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == reverse("success:dashboard")


def test_wrong_password_is_a_form_error(client: Client, ada: User) -> None:
    response = client.post(reverse("accounts:login"), {"email": ada.email, "password": "nope"})
    assert response.status_code == 200
    assert "The email or password is incorrect." in html(response)
    assert SESSION_KEY not in client.session


def test_logout_is_post_only(ada_client: Client) -> None:
    assert ada_client.get(reverse("accounts:logout")).status_code == 405
    response = ada_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert SESSION_KEY not in ada_client.session


def test_account_pages_require_sign_in(client: Client) -> None:
    for name in ("accounts:profile", "accounts:addresses", "accounts:preferences", "accounts:password_change"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login") + "?next=")


def test_forms_use_csrf_protection(ada: User) -> None:
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("accounts:login"), {"email": ada.email, "password": PASSWORD})
    assert response.status_code == 403


def test_profile_update(ada_client: Client, ada: User) -> None:
    response = ada_client.post(reverse("accounts:profile"), {"name": "Countess", "email": "ADA.L@example.com"})
    assert response.status_code == 302
    ada.refresh_from_db()
    assert (ada.name, ada.email) == ("Countess", "ada.l@example.com")


def test_address_pages(ada_client: Client, ada: User) -> None:
    page = html(ada_client.get(reverse("accounts:address_add")))
    assert label_for(page, "Address line 1")["autocomplete"] == "address-line1"
    assert label_for(page, "Postal code")["autocomplete"] == "postal-code"
    assert label_for(page, "Country code")["autocomplete"] == "country"
    assert label_for(page, "Phone")["autocomplete"] == "tel"
    assert label_for(page, "Phone")["type"] == "tel"

    assert ada_client.post(reverse("accounts:address_add"), ADDRESS).status_code == 302
    assert ada_client.post(reverse("accounts:address_add"), ADDRESS | {"label": "Work"}).status_code == 302
    home, work = Address.objects.filter(user=ada).order_by("id")
    assert home.is_default and not work.is_default

    page = html(ada_client.get(reverse("accounts:addresses")))
    assert "12 St James&#x27;s Square" in page
    assert reverse("accounts:address_default", args=[work.pk]) in page

    ada_client.post(reverse("accounts:address_default", args=[work.pk]))
    assert services.list_addresses(ada)[0] == work

    response = ada_client.post(reverse("accounts:address_edit", args=[home.pk]), ADDRESS | {"city": "Bath"})
    assert response.status_code == 302
    home.refresh_from_db()
    assert home.city == "Bath"

    ada_client.post(reverse("accounts:address_delete", args=[work.pk]))
    home.refresh_from_db()
    assert home.is_default
    assert Address.objects.filter(user=ada).count() == 1


def test_invalid_address_keeps_the_input_and_shows_errors(ada_client: Client, ada: User) -> None:
    response = ada_client.post(reverse("accounts:address_add"), ADDRESS | {"country": "4x", "line1": ""})
    assert response.status_code == 200
    page = html(response)
    assert "This field is required." in page
    assert 'value="SW1Y 4JH"' in page
    response = ada_client.post(reverse("accounts:address_add"), ADDRESS | {"country": "4x"})
    assert "Use the two-letter country code" in html(response)
    assert not Address.objects.filter(user=ada).exists()


def test_another_users_address_is_404_on_the_web(client: Client, ada: User) -> None:
    address = services.create_address(ada, ADDRESS)
    client.force_login(make_user("mallory@example.com"))
    assert client.get(reverse("accounts:address_edit", args=[address.pk])).status_code == 404
    assert client.post(reverse("accounts:address_edit", args=[address.pk]), ADDRESS).status_code == 404
    assert client.post(reverse("accounts:address_delete", args=[address.pk])).status_code == 404
    assert client.post(reverse("accounts:address_default", args=[address.pk])).status_code == 404
    assert client.get(reverse("accounts:address_edit", args=[2**70])).status_code == 404
    address.refresh_from_db()
    assert address.city == "London"
    assert "Ada Lovelace" not in html(client.get(reverse("accounts:addresses")))


def test_preferences_page(ada_client: Client, ada: User) -> None:
    clothing = Category.objects.create(name="Clothing", slug="clothing")
    shoes = Category.objects.create(name="Shoes", slug="shoes", parent=clothing)
    Category.objects.create(name="Trainers", slug="trainers", parent=shoes)
    page = html(ada_client.get(reverse("accounts:preferences")))
    assert "Clothing" in page and "Shoes" in page
    assert "Trainers" not in page
    response = ada_client.post(
        reverse("accounts:preferences"),
        {"favourite_categories": [shoes.pk], "channels": ["email", "chat"], "marketing_consent": "on"},
    )
    assert response.status_code == 302
    prefs = services.get_preferences(ada)
    assert prefs.channels == ["email", "chat"]
    assert prefs.marketing_consent_at is not None
    assert list(prefs.favourite_categories.all()) == [shoes]
    ada_client.post(reverse("accounts:preferences"), {"channels": ["email"]})
    prefs = services.get_preferences(ada)
    assert not prefs.marketing_consent and prefs.marketing_consent_at is None
    assert list(prefs.favourite_categories.all()) == []


def test_password_change_keeps_this_session(ada_client: Client, ada: User) -> None:
    page = html(ada_client.get(reverse("accounts:password_change")))
    assert label_for(page, "Current password")["autocomplete"] == "current-password"
    assert label_for(page, "New password")["autocomplete"] == "new-password"
    response = ada_client.post(
        reverse("accounts:password_change"),
        {
            "current_password": "wrong",
            "new_password": "a brand new passphrase",
            "new_password_again": "a brand new passphrase",
        },
    )
    assert "Your current password is incorrect." in html(response)
    response = ada_client.post(
        reverse("accounts:password_change"),
        {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "new_password_again": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    assert ada_client.get(reverse("accounts:profile")).status_code == 200
    ada.refresh_from_db()
    assert ada.check_password("a brand new passphrase")


def test_admin_is_for_staff_only(client: Client, ada: User) -> None:
    client.force_login(ada)
    assert client.get("/admin/accounts/user/").status_code == 302
    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.get("/admin/accounts/user/", {"q": "ada"})
    assert response.status_code == 200
    assert "ada@example.com" in html(response)
    assert client.get(f"/admin/accounts/user/{ada.pk}/change/").status_code == 200
    assert client.get("/admin/accounts/user/add/").status_code == 200
    assert client.get("/admin/accounts/address/").status_code == 200
