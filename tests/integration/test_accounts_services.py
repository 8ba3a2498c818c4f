"""Account rules as the services enforce them for both the web and the API."""

from __future__ import annotations

import pytest
from django.utils import timezone

from patron.accounts import services
from patron.accounts.models import Address, Channel, Preferences, User
from patron.accounts.testing import PASSWORD, make_user
from patron.catalog.models import Category
from patron.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db

ADDRESS = {
    "full_name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "gb",
}


def test_registration_normalises_email_and_creates_preferences() -> None:
    user = services.register_user(email="  Ada@Example.COM ", password=PASSWORD, name=" Ada ")
    assert user.email == "ada@example.com"
    assert user.name == "Ada"
    assert Preferences.objects.filter(user=user).exists()


def test_new_passwords_are_hashed_with_argon2() -> None:
    user = services.register_user(email="ada@example.com", password=PASSWORD)
    assert user.password.startswith("argon2$")
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


def test_registration_rejects_a_taken_email_whatever_its_case() -> None:
    make_user("ada@example.com")
    with pytest.raises(Conflict) as excinfo:
        services.register_user(email="ADA@example.com", password=PASSWORD)
    assert "email" in excinfo.value.fields
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short1", "too short"), ("password1234", "too common"), ("12345678901234", "entirely numeric")],
)
def test_registration_applies_the_password_validators(password: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as excinfo:
        services.register_user(email="ada@example.com", password=password)
    assert any(reason in message for message in excinfo.value.fields["password"])
    assert not User.objects.exists()


def test_registration_rejects_a_password_like_the_email() -> None:
    with pytest.raises(ValidationFailed):
        services.register_user(email="adalovelace@example.com", password="adalovelace")


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x" * 250 + "@example.com"])
def test_registration_rejects_invalid_emails(email: str) -> None:
    with pytest.raises(ValidationFailed):
        services.register_user(email=email, password=PASSWORD)


def test_authentication_ignores_email_case_and_refuses_inactive_users() -> None:
    user = make_user("ada@example.com")
    assert services.authenticate_user("ADA@EXAMPLE.COM", PASSWORD, ip="192.0.2.1") == user
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(NotAuthenticated):
        services.authenticate_user("ada@example.com", PASSWORD, ip="192.0.2.1")


def test_profile_email_change_must_stay_unique() -> None:
    ada, grace = make_user("ada@example.com"), make_user("grace@example.com")
    with pytest.raises(Conflict):
        services.update_profile(grace, email="Ada@example.com")
    services.update_profile(ada, name="Countess", email="ADA.L@example.com")
    ada.refresh_from_db()
    assert (ada.name, ada.email) == ("Countess", "ada.l@example.com")


def test_change_password_needs_the_current_one() -> None:
    user = make_user()
    with pytest.raises(ValidationFailed) as excinfo:
        services.change_password(user, current_password="nope", new_password="a brand new passphrase")
    assert "current_password" in excinfo.value.fields
    services.change_password(user, current_password=PASSWORD, new_password="a brand new passphrase")
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase")
    assert user.password.startswith("argon2$")


def defaults(user: User) -> list[int]:
    return list(Address.objects.filter(user=user, is_default=True).values_list("pk", flat=True))


def test_first_address_becomes_the_default_and_country_is_upper_case() -> None:
    user = make_user()
    address = services.create_address(user, ADDRESS)
    assert address.is_default
    assert address.country == "GB"


def test_exactly_one_default_address() -> None:
    user = make_user()
    first = services.create_address(user, ADDRESS)
    second = services.create_address(user, ADDRESS | {"is_default": True})
    assert defaults(user) == [second.pk]
    third = services.create_address(user, ADDRESS)
    assert defaults(user) == [second.pk]
    services.set_default_address(user, first.pk)
    assert defaults(user) == [first.pk]
    services.update_address(user, third.pk, {"is_default": True})
    assert defaults(user) == [third.pk]


def test_clearing_the_default_hands_it_to_another_address() -> None:
    user = make_user()
    only = services.create_address(user, ADDRESS)
    assert services.update_address(user, only.pk, {"is_default": False}).is_default
    other = services.create_address(user, ADDRESS)
    services.update_address(user, only.pk, {"is_default": False})
    assert defaults(user) == [other.pk]


def test_deleting_the_default_promotes_another() -> None:
    user = make_user()
    first = services.create_address(user, ADDRESS)
    second = services.create_address(user, ADDRESS)
    third = services.create_address(user, ADDRESS)
    services.delete_address(user, first.pk)
    assert defaults(user) == [second.pk]
    services.delete_address(user, third.pk)
    assert defaults(user) == [second.pk]
    services.delete_address(user, second.pk)
    assert not Address.objects.filter(user=user).exists()


def test_addresses_are_scoped_to_their_owner() -> None:
    ada, mallory = make_user("ada@example.com"), make_user("mallory@example.com")
    address = services.create_address(ada, ADDRESS)
    for attempt in (
        lambda: services.get_address(mallory, address.pk),
        lambda: services.update_address(mallory, address.pk, {"city": "Paris"}),
        lambda: services.set_default_address(mallory, address.pk),
        lambda: services.delete_address(mallory, address.pk),
    ):
        with pytest.raises(NotFound):
            attempt()
    address.refresh_from_db()
    assert address.city == "London"
    assert services.list_addresses(mallory) == []


@pytest.mark.parametrize("address_id", [0, -1, 2**63, 10**30])
def test_out_of_range_address_ids_are_not_found(address_id: int) -> None:
    with pytest.raises(NotFound):
        services.get_address(make_user(), address_id)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "GBR"}, "country"),
        ({"country": "1x"}, "country"),
        ({"line1": ""}, "line1"),
        ({"city": "x" * 101}, "city"),
    ],
)
def test_invalid_addresses_are_refused_with_field_errors(change: dict[str, str], field: str) -> None:
    user = make_user()
    with pytest.raises(ValidationFailed) as excinfo:
        services.create_address(user, ADDRESS | change)
    assert field in excinfo.value.fields
    assert not Address.objects.filter(user=user).exists()


def test_marketing_consent_records_when_it_was_given() -> None:
    user = make_user()
    before = timezone.now()
    prefs = services.update_preferences(user, marketing_consent=True)
    assert prefs.marketing_consent
    assert prefs.marketing_consent_at is not None and prefs.marketing_consent_at >= before
    given_at = prefs.marketing_consent_at
    # Saving other preferences keeps the original moment of consent.
    prefs = services.update_preferences(user, marketing_consent=True, channels=["email"])
    assert prefs.marketing_consent_at == given_at
    prefs = services.update_preferences(user, marketing_consent=False)
    assert not prefs.marketing_consent
    assert prefs.marketing_consent_at is None


def test_channels_are_validated_and_deduplicated() -> None:
    user = make_user()
    prefs = services.update_preferences(user, channels=["sms", "email", "sms"])
    assert prefs.channels == ["sms", "email"]
    with pytest.raises(ValidationFailed) as excinfo:
        services.update_preferences(user, channels=["email", "carrier-pigeon"])
    assert "channels" in excinfo.value.fields
    assert services.get_preferences(user).channels == ["sms", "email"]
    assert set(Channel.values) == {"email", "sms", "phone", "chat", "social"}


def test_favourite_categories_must_exist() -> None:
    user = make_user()
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    prefs = services.update_preferences(user, favourite_category_ids=[shoes.pk])
    assert list(prefs.favourite_categories.all()) == [shoes]
    with pytest.raises(ValidationFailed):
        services.update_preferences(user, favourite_category_ids=[shoes.pk, shoes.pk + 1000])
    assert list(services.get_preferences(user).favourite_categories.all()) == [shoes]


def test_nul_characters_are_refused_before_reaching_the_database() -> None:
    with pytest.raises(ValidationFailed):
        services.register_user(email="ada@example.com", password=PASSWORD, name="Ada\x00")
    user = make_user()
    with pytest.raises(ValidationFailed):
        services.create_address(user, ADDRESS | {"city": "Lon\x00don"})
    with pytest.raises(NotAuthenticated):
        services.authenticate_user("ada\x00@example.com", PASSWORD, ip="192.0.2.1")
