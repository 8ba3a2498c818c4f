"""Account rules: registration, sign-in throttling, profile, addresses, preferences, passwords and their reset.

Web views and API endpoints both call these functions; every query for a user's data is scoped to
that user, so someone else's address is simply "not found".
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from patron import events
from patron.accounts import tokens
from patron.accounts.models import Address, Channel, Preferences, User
from patron.catalog.models import Category
from patron.errors import Conflict, DomainError, NotAuthenticated, NotFound, RateLimited, ValidationFailed

# Primary keys are 64-bit; anything outside cannot exist and must not reach the database driver.
MAX_ID = 2**63 - 1
NAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
INVALID_CREDENTIALS = "The email or password is incorrect."
REFERRAL_CODE_MAX_LENGTH = 40
OLDEST_BIRTH_YEAR = 1900


def normalize_email(email: str) -> str:
    """Emails are stored lower-case so that uniqueness and sign-in ignore case."""
    return email.strip().lower()


def _fields_of(error: ValidationError, default_field: str) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for err in errs for m in err.messages] for field, errs in error.error_dict.items()}
    return {default_field: [str(m) for m in error.messages]}


def _is_valid_email(email: str) -> bool:
    try:
        _clean_email(email)
    except ValidationFailed:
        return False
    return True


def _clean_email(email: str) -> str:
    email = normalize_email(email)
    try:
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError("Email addresses have at most 254 characters.")
        validate_email(email)
    except ValidationError as exc:
        raise ValidationFailed(
            "Enter a valid email address.", fields={"email": ["Enter a valid email address."]}
        ) from exc
    return email


def _text(field: str, value: str) -> str:
    """Stripped text; NUL characters are refused because PostgreSQL cannot store them."""
    if "\x00" in value:
        raise ValidationFailed("Text may not contain NUL characters.", fields={field: ["Remove the NUL character."]})
    return value.strip()


def _clean_name(name: str) -> str:
    name = _text("name", name)
    if len(name) > NAME_MAX_LENGTH:
        message = f"Use at most {NAME_MAX_LENGTH} characters."
        raise ValidationFailed("The name is too long.", fields={"name": [message]})
    return name


def _ensure_email_free(email: str, *, exclude_user_id: int | None = None) -> None:
    taken = User.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        taken = taken.exclude(pk=exclude_user_id)
    if taken.exists():
        message = "An account with this email address already exists."
        raise Conflict(message, fields={"email": [message]}, code="email_taken")


def _validate_new_password(password: str, user: User, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed("Choose a stronger password.", fields={field: list(exc.messages)}) from exc


# Registration


def register_user(*, email: str, password: str, name: str = "", referral_code: str = "") -> User:
    """A new customer; `referral_code` (a friend's, from their invitation link) goes out with CustomerRegistered."""
    email = _clean_email(email)
    name = _clean_name(name)
    referral_code = _text("referral_code", referral_code)
    if len(referral_code) > REFERRAL_CODE_MAX_LENGTH:
        message = f"Use at most {REFERRAL_CODE_MAX_LENGTH} characters."
        raise ValidationFailed("The referral code is too long.", fields={"referral_code": [message]})
    _ensure_email_free(email)
    _validate_new_password(password, User(email=email, name=name))
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
            Preferences.objects.create(user=user)
            events.publish(events.CustomerRegistered(user_id=user.pk, referral_code=referral_code))
    except IntegrityError as exc:
        # Two sign-ups with the same address raced past the check above.
        message = "An account with this email address already exists."
        raise Conflict(message, fields={"email": [message]}, code="email_taken") from exc
    return user


# Attempt throttling (failed sign-ins, password reset requests and failed reset links)


@dataclass(frozen=True)
class _Limit:
    """At most `maximum` counted attempts under `key` within `window` seconds of the first one."""

    key: str
    maximum: int
    window: int


def _hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _login_limits(email: str, ip: str | None) -> list[_Limit]:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    limits = [_Limit(f"login-failures:account:{_hashed(email)}", settings.LOGIN_MAX_FAILURES_PER_ACCOUNT, window)]
    if ip:
        limits.append(_Limit(f"login-failures:ip:{_hashed(ip)}", settings.LOGIN_MAX_FAILURES_PER_IP, window))
    return limits


def _check_limits(limits: list[_Limit], what: str) -> None:
    """RateLimited("Too many <what>. Try again in ...") once any counter has reached its maximum."""
    counts = cache.get_many([limit.key for limit in limits] + [f"{limit.key}:until" for limit in limits])
    now = time.time()
    waits = [
        max(1, math.ceil(float(counts.get(f"{limit.key}:until", now + 1)) - now))
        for limit in limits
        if int(counts.get(limit.key, 0)) >= limit.maximum
    ]
    if waits:
        wait = max(waits)
        minutes = math.ceil(wait / 60)
        raise RateLimited(
            f"Too many {what}. Try again in {minutes} minute{'s' if minutes != 1 else ''}.", retry_after=wait
        )


def _count_attempt(limits: list[_Limit]) -> None:
    for limit in limits:
        # The window starts at the first attempt; `until` tells the caller when it ends (Retry-After).
        cache.add(f"{limit.key}:until", time.time() + limit.window, timeout=limit.window)
        cache.add(limit.key, 0, timeout=limit.window)
        try:
            cache.incr(limit.key)
        except ValueError:
            cache.add(limit.key, 1, timeout=limit.window)


def authenticate_user(email: str, password: str, *, ip: str | None) -> User:
    """Check credentials, refusing with RateLimited once an account or a client IP failed too often.

    The check happens before the password is verified, so a blocked attacker learns nothing even when
    guessing right; a success clears the account's counter but not the IP's.
    """
    email = normalize_email(email)
    limits = _login_limits(email, ip)
    _check_limits(limits, "failed sign-in attempts")
    # Only valid addresses were ever registered; anything else is looked up no further.
    user = User.objects.filter(email=email).first() if _is_valid_email(email) else None
    if user is None:
        # Hash anyway so that response time does not reveal which emails have accounts.
        User().set_password(password)
    elif user.is_active and user.check_password(password):
        cache.delete_many([limits[0].key, f"{limits[0].key}:until"])
        return user
    _count_attempt(limits)
    raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")


# Profile and passwords


def update_profile(user: User, *, name: str | None = None, email: str | None = None) -> User:
    changed: list[str] = []
    if name is not None:
        user.name = _clean_name(name)
        changed.append("name")
    if email is not None:
        email = _clean_email(email)
        if email != user.email:
            _ensure_email_free(email, exclude_user_id=user.pk)
            user.email = email
            changed.append("email")
    if changed:
        try:
            user.save(update_fields=changed)
        except IntegrityError as exc:
            message = "An account with this email address already exists."
            raise Conflict(message, fields={"email": [message]}, code="email_taken") from exc
    return user


def set_password(user: User, new_password: str, *, field: str = "new_password") -> User:
    """Set a new password and sign the user out of every API session; used by change and reset."""
    _validate_new_password(new_password, user, field)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    tokens.revoke_user_tokens(user)
    return user


def change_password(user: User, *, current_password: str, new_password: str) -> User:
    if not user.check_password(current_password):
        message = "Your current password is incorrect."
        raise ValidationFailed(message, fields={"current_password": [message]})
    return set_password(user, new_password)


# Password reset by emailed link (the same link serves the web page and the API)

RESET_EMAIL_SUBJECT_TEMPLATE = "accounts/password_reset_subject.txt"
RESET_EMAIL_BODY_TEMPLATE = "accounts/password_reset_email.txt"
INVALID_RESET_LINK = "This password reset link is not valid or has expired; ask for a new one."
# A uid is a primary key in URL-safe base64: 64-bit keys need 27 characters at most.
RESET_UID_MAX_LENGTH = 64


def _reset_request_limits(email: str, ip: str | None) -> list[_Limit]:
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    limits = [_Limit(f"reset-requests:email:{_hashed(email)}", settings.PASSWORD_RESET_MAX_REQUESTS_PER_EMAIL, window)]
    if ip:
        limits.append(_Limit(f"reset-requests:ip:{_hashed(ip)}", settings.PASSWORD_RESET_MAX_REQUESTS_PER_IP, window))
    return limits


def _reset_link_limits(ip: str | None) -> list[_Limit]:
    if not ip:
        return []
    maximum = settings.PASSWORD_RESET_MAX_LINK_FAILURES_PER_IP
    return [_Limit(f"reset-link-failures:ip:{_hashed(ip)}", maximum, settings.PASSWORD_RESET_WINDOW_SECONDS)]


def request_password_reset(email: str, *, ip: str | None, base_url: str | None = None) -> None:
    """Email a link to choose a new password, if an active account with a usable password has this address.

    The outcome is the same whether or not one has, and every request counts against the limits per address
    and per client IP (found or not), so neither the answer nor the limit reveals which addresses have
    accounts. Over a limit: RateLimited, and no email. `base_url` (scheme and host) is where the link points;
    SITE_URL by default.

    The request itself never looks the account up nor talks to the mail server: every accepted request
    queues one background job (after commit) with the address, and the job finds the account and sends.
    A request for an address with an account thus does the same work, and takes the same time, as one for
    an address without.
    """
    from patron.accounts.tasks import send_password_reset_email

    email = _clean_email(email)
    limits = _reset_request_limits(email, ip)
    _check_limits(limits, "password reset requests")
    _count_attempt(limits)
    transaction.on_commit(partial(send_password_reset_email.enqueue, email, base_url or settings.SITE_URL))


def send_password_reset_email(email: str, base_url: str) -> bool:
    """The reset email for `email`, if an active account with a usable password has it (run by `patron worker`).

    The token is made here, at send time, so that none ever sits in the task queue (the job holds only the
    address and where the link points).
    A failed send raises, for the worker to record the failure; the requester was answered long before.
    Returns whether an email was sent.
    """
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    parts = urlsplit(base_url)
    context = {
        "email": user.email,
        "user": user,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "protocol": parts.scheme or "https",
        "domain": parts.netloc,
        "site_name": settings.STORE_NAME,
        "store_name": settings.STORE_NAME,
    }
    subject = "".join(render_to_string(RESET_EMAIL_SUBJECT_TEMPLATE, context).splitlines())
    message = EmailMultiAlternatives(subject, render_to_string(RESET_EMAIL_BODY_TEMPLATE, context), to=[user.email])
    message.send()
    return True


def _reset_link_user(uid: str, token: str) -> User | None:
    if len(uid) > RESET_UID_MAX_LENGTH:
        return None
    try:
        pk = int(urlsafe_base64_decode(uid).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if not 0 < pk <= MAX_ID:
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def check_password_reset_link(uid: str, token: str, *, ip: str | None) -> User:
    """The account an emailed link is for, while the link is valid (unused, not expired).

    A client IP that presented too many invalid links is refused with RateLimited before the link is
    looked at, so guessing tokens gets nowhere.
    """
    limits = _reset_link_limits(ip)
    _check_limits(limits, "invalid password reset links")
    user = _reset_link_user(uid, token)
    if user is None:
        _count_attempt(limits)
        raise DomainError(INVALID_RESET_LINK, code="invalid_reset_link")
    return user


def reset_password(uid: str, token: str, new_password: str, *, ip: str | None = None) -> User:
    """Set the password of the account an emailed link is for; signs out every session, as a change does.

    The token is tied to the old password hash, so the link stops working once it has been used.
    """
    user = check_password_reset_link(uid, token, ip=ip)
    set_password(user, new_password)
    # Whoever holds the link owns the mailbox: failed sign-ins by someone else no longer lock them out.
    account_limit = _login_limits(user.email, None)[0]
    cache.delete_many([account_limit.key, f"{account_limit.key}:until"])
    return user


# Addresses

ADDRESS_FIELDS = ("label", "full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def list_addresses(user: User) -> list[Address]:
    return list(Address.objects.filter(user=user))


def get_address(user: User, address_id: int) -> Address:
    if not 0 < address_id <= MAX_ID:
        raise NotFound("Address not found.")
    try:
        return Address.objects.get(pk=address_id, user=user)
    except Address.DoesNotExist as exc:
        raise NotFound("Address not found.") from exc


def _apply_address_data(address: Address, data: Mapping[str, Any]) -> None:
    for field in ADDRESS_FIELDS:
        if field in data and data[field] is not None:
            value = _text(field, str(data[field]))
            setattr(address, field, value.upper() if field == "country" else value)
    try:
        address.full_clean(exclude=["user", "is_default"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationFailed("The address is not valid.", fields=_fields_of(exc, "__all__")) from exc
    if not (len(address.country) == 2 and address.country.isascii() and address.country.isalpha()):
        message = "Use the two-letter country code, e.g. US or DE."
        raise ValidationFailed("The address is not valid.", fields={"country": [message]})


def _lock_owner(user: User) -> None:
    """Serialise default-address changes of one user so that two requests cannot both leave a default."""
    User.objects.select_for_update().filter(pk=user.pk).exists()


def _make_default(user: User, address: Address) -> None:
    Address.objects.filter(user=user, is_default=True).exclude(pk=address.pk).update(is_default=False)
    if not address.is_default:
        address.is_default = True
        Address.objects.filter(pk=address.pk).update(is_default=True)


def _promote_another(user: User, exclude_id: int) -> None:
    other = Address.objects.filter(user=user).exclude(pk=exclude_id).order_by("id").first()
    if other is not None:
        _make_default(user, other)


def create_address(user: User, data: Mapping[str, Any]) -> Address:
    address = Address(user=user)
    _apply_address_data(address, data)
    with transaction.atomic():
        _lock_owner(user)
        first = not Address.objects.filter(user=user).exists()
        address.save()
        if first or data.get("is_default"):
            _make_default(user, address)
    return address


def update_address(user: User, address_id: int, data: Mapping[str, Any]) -> Address:
    with transaction.atomic():
        _lock_owner(user)
        address = get_address(user, address_id)
        _apply_address_data(address, data)
        address.save(update_fields=list(ADDRESS_FIELDS))
        wants_default = data.get("is_default")
        if wants_default:
            _make_default(user, address)
        elif wants_default is False and address.is_default:
            # A user always has exactly one default: clearing it hands the role to another address.
            _promote_another(user, address.pk)
            address.refresh_from_db(fields=["is_default"])
    return address


def set_default_address(user: User, address_id: int) -> Address:
    with transaction.atomic():
        _lock_owner(user)
        address = get_address(user, address_id)
        _make_default(user, address)
    return address


def delete_address(user: User, address_id: int) -> None:
    with transaction.atomic():
        _lock_owner(user)
        address = get_address(user, address_id)
        was_default = address.is_default
        address_pk = address.pk
        address.delete()
        if was_default:
            _promote_another(user, address_pk)


# Preferences


def get_preferences(user: User) -> Preferences:
    preferences, _ = Preferences.objects.prefetch_related("favourite_categories").get_or_create(user=user)
    return preferences


def update_preferences(
    user: User,
    *,
    channels: Iterable[str] | None = None,
    marketing_consent: bool | None = None,
    favourite_category_ids: Iterable[int] | None = None,
) -> Preferences:
    preferences = get_preferences(user)
    if channels is not None:
        wanted = list(dict.fromkeys(channels))
        unknown = [channel for channel in wanted if channel not in Channel.values]
        if unknown:
            allowed = ", ".join(Channel.values)
            raise ValidationFailed(
                "Unknown contact channel.", fields={"channels": [f"Choose from {allowed}; not {', '.join(unknown)}."]}
            )
        preferences.channels = wanted
    if marketing_consent is not None and marketing_consent != preferences.marketing_consent:
        # The timestamp is the record of when consent was given; withdrawing consent erases it.
        preferences.marketing_consent = marketing_consent
        preferences.marketing_consent_at = timezone.now() if marketing_consent else None
    categories: list[Category] | None = None
    if favourite_category_ids is not None:
        ids = {int(pk) for pk in favourite_category_ids}
        categories = list(Category.objects.filter(pk__in=[pk for pk in ids if 0 < pk <= MAX_ID]))
        if len(categories) != len(ids):
            missing = sorted(ids - {category.pk for category in categories})
            raise ValidationFailed(
                "Unknown category.", fields={"favourite_categories": [f"No category with id {missing[0]}."]}
            )
    with transaction.atomic():
        preferences.save()
        if categories is not None:
            preferences.favourite_categories.set(categories)
    return get_preferences(user)


def set_birthday(user: User, birthday: date | None) -> Preferences:
    """Remember (or forget, with None) the user's birthday; it must be a real date in the past."""
    if birthday is not None and not (date(OLDEST_BIRTH_YEAR, 1, 1) <= birthday <= timezone.localdate()):
        raise ValidationFailed("Enter your date of birth.", fields={"birthday": ["Enter a date in the past."]})
    preferences = get_preferences(user)
    preferences.birthday = birthday
    preferences.save(update_fields=["birthday", "updated_at"])
    return preferences
