"""/api/auth: sign-up, sign-in, token refresh, sign-out, password reset, and the signed-in user's profile."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import AfterValidator, Field, StringConstraints

from patron.accounts import services, tokens
from patron.accounts.auth import JWTAuth, access_token, client_ip
from patron.accounts.models import Address, Channel, Preferences, User
from patron.cart.services import CART_TOKEN_HEADER, merge_guest_token

router = Router(tags=["auth"])
jwt_auth = JWTAuth()


def _email(value: str) -> str:
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValueError("Enter a valid email address.") from exc
    return services.normalize_email(value)


Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254), AfterValidator(_email)]
# Argon2 hashes any length; the bound keeps a single request from costing much.
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)]


def _text(max_length: int, min_length: int = 0) -> object:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


class RegisterIn(Schema):
    email: Email
    password: Password
    name: Name = ""
    referral_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = Field(
        "", description="A friend's referral code, from their invitation link."
    )


class LoginIn(Schema):
    email: Email
    password: Password


class RefreshIn(Schema):
    refresh: Token


class LogoutIn(Schema):
    refresh: Token | None = None


class UserOut(Schema):
    id: int
    email: str
    name: str
    is_staff: bool
    date_joined: datetime


class TokensOut(Schema):
    access: str
    refresh: str
    token_type: str
    expires_in: int


class RegisterOut(TokensOut):
    user: UserOut


class ProfileIn(Schema):
    name: Name | None = None
    email: Email | None = None


class AddressIn(Schema):
    label: Annotated[str, _text(50)] = ""
    full_name: Annotated[str, _text(150, 1)]
    line1: Annotated[str, _text(200, 1)]
    line2: Annotated[str, _text(200)] = ""
    city: Annotated[str, _text(100, 1)]
    region: Annotated[str, _text(100)] = ""
    postal_code: Annotated[str, _text(20, 1)]
    country: Annotated[str, _text(2, 2)] = Field(description="ISO 3166-1 alpha-2 code, e.g. US")
    phone: Annotated[str, _text(30)] = ""
    is_default: bool = False


class AddressOut(Schema):
    id: int
    label: str
    full_name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str
    is_default: bool


class CategoryRef(Schema):
    id: int
    name: str
    slug: str


class PreferencesIn(Schema):
    channels: list[Channel] | None = Field(default=None, max_length=len(Channel.values))
    marketing_consent: bool | None = None
    favourite_categories: list[Annotated[int, Field(gt=0)]] | None = Field(default=None, max_length=200)
    birthday: date | None = Field(default=None, description="Omit to keep; null to forget.")


class PreferencesOut(Schema):
    channels: list[str]
    marketing_consent: bool
    marketing_consent_at: datetime | None
    birthday: date | None
    favourite_categories: list[CategoryRef]

    @staticmethod
    def resolve_favourite_categories(obj: Preferences) -> list[CategoryRef]:
        return [CategoryRef(id=c.pk, name=c.name, slug=c.slug) for c in obj.favourite_categories.all()]


class PasswordChangeIn(Schema):
    current_password: Password
    new_password: Password


class PasswordResetIn(Schema):
    email: Email


class PasswordResetConfirmIn(Schema):
    uid: Annotated[str, StringConstraints(min_length=1, max_length=services.RESET_UID_MAX_LENGTH)] = Field(
        description="The `uid` part of the emailed link (…/password/reset/<uid>/<token>/)."
    )
    token: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="The `token` part of the emailed link."
    )
    new_password: Password


class DetailOut(Schema):
    detail: str


RESET_REQUESTED = "If an account uses this address, we have emailed it a link to choose a new password."


def _tokens(pair: tokens.TokenPair) -> dict[str, object]:
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
    }


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


@router.post("/register", response={201: RegisterOut}, summary="Create an account and sign in")
def register(request: HttpRequest, payload: RegisterIn) -> Status[dict[str, object]]:
    user = services.register_user(
        email=payload.email, password=payload.password, name=payload.name, referral_code=payload.referral_code
    )
    return Status(201, {"user": user, **_tokens(tokens.issue_tokens(user))})


@router.post("/login", response=TokensOut, summary="Sign in with email and password")
def login(request: HttpRequest, payload: LoginIn) -> dict[str, object]:
    user = services.authenticate_user(payload.email, payload.password, ip=client_ip(request))
    merge_guest_token(request.headers.get(CART_TOKEN_HEADER), user)
    return _tokens(tokens.issue_tokens(user))


@router.post("/refresh", response=TokensOut, summary="Exchange a refresh token for a new token pair")
def refresh(request: HttpRequest, payload: RefreshIn) -> dict[str, object]:
    return _tokens(tokens.rotate(payload.refresh))


@router.get("/logout", response={204: None}, auth=jwt_auth, summary="Sign out this session")
def logout(request: HttpRequest) -> Status[None]:
    tokens.logout(access_token(request))
    return Status(204, None)


@router.post("/logout", response={204: None}, auth=jwt_auth, summary="Sign out, optionally naming the refresh token")
def logout_post(request: HttpRequest, payload: LogoutIn | None = None) -> Status[None]:
    tokens.logout(access_token(request), payload.refresh if payload else None)
    return Status(204, None)


@router.get("/me", response=UserOut, auth=jwt_auth)
def me(request: HttpRequest) -> User:
    return _user(request)


@router.put("/me", response=UserOut, auth=jwt_auth)
def update_me(request: HttpRequest, payload: ProfileIn) -> User:
    return services.update_profile(_user(request), name=payload.name, email=payload.email)


@router.post("/me/password", response={204: None}, auth=jwt_auth, summary="Change password; signs out every session")
def change_password(request: HttpRequest, payload: PasswordChangeIn) -> Status[None]:
    services.change_password(
        _user(request), current_password=payload.current_password, new_password=payload.new_password
    )
    return Status(204, None)


@router.post(
    "/password/reset",
    response={202: DetailOut},
    summary="Email a password reset link",
    description="The answer is the same whether or not an account uses the address. Limited per address and per "
    "client IP (429 with Retry-After). The link's `uid` and `token` go to `/password/reset/confirm`.",
)
def request_password_reset(request: HttpRequest, payload: PasswordResetIn) -> Status[dict[str, str]]:
    services.request_password_reset(payload.email, ip=client_ip(request))
    return Status(202, {"detail": RESET_REQUESTED})


@router.post(
    "/password/reset/confirm",
    response={204: None},
    summary="Choose a new password with an emailed link's uid and token; signs out every session",
    description="400 `invalid_reset_link` for a used, expired or wrong link; 422 with `fields.new_password` for a "
    "weak password; 429 once a client IP presented too many invalid links.",
)
def confirm_password_reset(request: HttpRequest, payload: PasswordResetConfirmIn) -> Status[None]:
    services.reset_password(payload.uid, payload.token, payload.new_password, ip=client_ip(request))
    return Status(204, None)


@router.get("/me/addresses", response=list[AddressOut], auth=jwt_auth)
def list_addresses(request: HttpRequest) -> list[Address]:
    return services.list_addresses(_user(request))


@router.post("/me/addresses", response={201: AddressOut}, auth=jwt_auth)
def create_address(request: HttpRequest, payload: AddressIn) -> Status[Address]:
    return Status(201, services.create_address(_user(request), payload.model_dump()))


@router.get("/me/addresses/{address_id}", response=AddressOut, auth=jwt_auth)
def get_address(request: HttpRequest, address_id: int) -> Address:
    return services.get_address(_user(request), address_id)


@router.put("/me/addresses/{address_id}", response=AddressOut, auth=jwt_auth)
def update_address(request: HttpRequest, address_id: int, payload: AddressIn) -> Address:
    return services.update_address(_user(request), address_id, payload.model_dump())


@router.delete("/me/addresses/{address_id}", response={204: None}, auth=jwt_auth)
def delete_address(request: HttpRequest, address_id: int) -> Status[None]:
    services.delete_address(_user(request), address_id)
    return Status(204, None)


@router.get("/me/preferences", response=PreferencesOut, auth=jwt_auth)
def get_preferences(request: HttpRequest) -> Preferences:
    return services.get_preferences(_user(request))


@router.put("/me/preferences", response=PreferencesOut, auth=jwt_auth)
def update_preferences(request: HttpRequest, payload: PreferencesIn) -> Preferences:
    if "birthday" in payload.model_fields_set:
        services.set_birthday(_user(request), payload.birthday)
    return services.update_preferences(
        _user(request),
        channels=[channel.value for channel in payload.channels] if payload.channels is not None else None,
        marketing_consent=payload.marketing_consent,
        favourite_category_ids=payload.favourite_categories,
    )
