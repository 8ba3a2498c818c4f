"""Helpers for tests of any app that need a signed-up customer or an API access token."""

from __future__ import annotations

from typing import Any

from patron.accounts import services, tokens
from patron.accounts.models import User

PASSWORD = "correct horse battery staple"  # noqa: S105 (a fixture password for tests)


def make_user(
    email: str = "ada@example.com", password: str = PASSWORD, name: str = "Ada Lovelace", **extra: Any
) -> User:
    """A customer created the way sign-up creates one (with preferences); `extra` sets fields such as is_staff."""
    user = services.register_user(email=email, password=password, name=name)
    if extra:
        for field, value in extra.items():
            setattr(user, field, value)
        user.save(update_fields=list(extra))
    return user


def bearer(user: User) -> dict[str, Any]:
    """Django test client keyword arguments that authenticate API requests as `user`."""
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_tokens(user).access}"}
