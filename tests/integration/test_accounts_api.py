"""The signed-in user's profile, addresses and preferences over the API, scoped to that user."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from patron.accounts.models import Address, User
from patron.accounts.testing import PASSWORD, bearer, make_user
from patron.catalog.models import Category

pytestmark = pytest.mark.django_db

API = "/api/auth"
ADDRESS = {
    "label": "Home",
    "full_name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
    "phone": "+44 20 7946 0000",
}


def send(client: Client, method: str, path: str, user: User | None, body: Any = None) -> Any:
    headers = bearer(user) if user else {}
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(f"{API}{path}", data, content_type="application/json", **headers)


@pytest.fixture
def ada() -> User:
    return make_user("ada@example.com")


@pytest.fixture
def mallory() -> User:
    return make_user("mallory@example.com", name="Mallory")


def test_me_shows_and_updates_the_profile(client: Client, ada: User) -> None:
    response = send(client, "get", "/me", ada)
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    response = send(client, "put", "/me", ada, {"name": "Countess of Lovelace"})
    assert response.status_code == 200
    assert response.json()["name"] == "Countess of Lovelace"
    assert response.json()["email"] == "ada@example.com"


def test_me_cannot_take_another_users_email(client: Client, ada: User, mallory: User) -> None:
    response = send(client, "put", "/me", mallory, {"email": "ADA@example.com"})
    assert response.status_code == 409
    assert response.json()["error"]["fields"]["email"]
    mallory.refresh_from_db()
    assert mallory.email == "mallory@example.com"


def test_address_crud(client: Client, ada: User) -> None:
    created = send(client, "post", "/me/addresses", ada, ADDRESS)
    assert created.status_code == 201, created.content
    address = created.json()
    assert address["is_default"] is True
    path = f"/me/addresses/{address['id']}"
    assert send(client, "get", path, ada).json()["city"] == "London"
    updated = send(client, "put", path, ada, ADDRESS | {"city": "Marylebone", "country": "gb"})
    assert updated.status_code == 200
    assert (updated.json()["city"], updated.json()["country"]) == ("Marylebone", "GB")
    second = send(client, "post", "/me/addresses", ada, ADDRESS | {"label": "Work", "is_default": True}).json()
    listed = send(client, "get", "/me/addresses", ada).json()
    assert [(a["id"], a["is_default"]) for a in listed] == [(second["id"], True), (address["id"], False)]
    assert send(client, "delete", f"/me/addresses/{second['id']}", ada).status_code == 204
    assert send(client, "get", path, ada).json()["is_default"] is True


def test_someone_elses_address_is_not_found(client: Client, ada: User, mallory: User) -> None:
    address = send(client, "post", "/me/addresses", ada, ADDRESS).json()
    path = f"/me/addresses/{address['id']}"
    assert send(client, "get", path, mallory).status_code == 404
    assert send(client, "put", path, mallory, ADDRESS | {"city": "Paris"}).status_code == 404
    response = send(client, "delete", path, mallory)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert send(client, "get", "/me/addresses", mallory).json() == []
    assert Address.objects.get(pk=address["id"]).city == "London"


@pytest.mark.parametrize("address_id", ["0", "-5", str(2**63), "9" * 40])
def test_out_of_range_ids_are_404(client: Client, ada: User, address_id: str) -> None:
    assert send(client, "get", f"/me/addresses/{address_id}", ada).status_code == 404
    assert send(client, "delete", f"/me/addresses/{address_id}", ada).status_code == 404


def test_non_numeric_ids_are_a_client_error(client: Client, ada: User) -> None:
    response = send(client, "get", "/me/addresses/abc", ada)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "GBR"}, "country"),
        ({"country": "1!"}, "country"),
        ({"line1": ""}, "line1"),
        ({"postal_code": "9" * 21}, "postal_code"),
        ({"full_name": "x" * 151}, "full_name"),
        ({"is_default": "perhaps"}, "is_default"),
    ],
)
def test_bad_addresses_are_422_with_field_errors(client: Client, ada: User, change: dict[str, Any], field: str) -> None:
    response = send(client, "post", "/me/addresses", ada, ADDRESS | change)
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]
    assert not Address.objects.filter(user=ada).exists()


def test_preferences_round_trip(client: Client, ada: User) -> None:
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    response = send(
        client,
        "put",
        "/me/preferences",
        ada,
        {"channels": ["email", "sms"], "marketing_consent": True, "favourite_categories": [shoes.pk]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["channels"] == ["email", "sms"]
    assert body["marketing_consent_at"] is not None
    assert body["favourite_categories"] == [{"id": shoes.pk, "name": "Shoes", "slug": "shoes"}]
    body = send(client, "put", "/me/preferences", ada, {"marketing_consent": False}).json()
    assert body["marketing_consent_at"] is None
    assert body["channels"] == ["email", "sms"]
    assert send(client, "get", "/me/preferences", ada).json() == body


@pytest.mark.parametrize(
    "body",
    [{"channels": ["fax"]}, {"favourite_categories": [999_999]}, {"favourite_categories": [0]}, {"channels": "email"}],
)
def test_bad_preferences_are_422(client: Client, ada: User, body: dict[str, Any]) -> None:
    response = send(client, "put", "/me/preferences", ada, body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "x" * 300 + "@example.com", "password": PASSWORD},
        {"email": "new@example.com", "password": "p" * 5000},
        {"email": "new@example.com", "password": PASSWORD, "name": "n" * 151},
        {"email": "new@example.com"},
        {"email": ["new@example.com"], "password": PASSWORD},
        {"email": "new@example.com", "password": "short"},
    ],
)
def test_malformed_registrations_are_422(client: Client, body: dict[str, Any]) -> None:
    response = send(client, "post", "/register", None, body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert not User.objects.filter(email="new@example.com").exists()


def test_unparseable_json_is_a_client_error(client: Client) -> None:
    response = client.post(f"{API}/login", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]


def test_registering_a_taken_email_is_409(client: Client, ada: User) -> None:
    response = send(client, "post", "/register", None, {"email": "Ada@Example.com", "password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


def test_addresses_list_query_count_is_bounded(client: Client, ada: User, django_assert_max_num_queries: Any) -> None:
    for n in range(15):
        send(client, "post", "/me/addresses", ada, ADDRESS | {"label": f"Place {n}"})
    headers = bearer(ada)
    with django_assert_max_num_queries(3):
        response = client.get(f"{API}/me/addresses", **headers)
    assert len(response.json()) == 15
