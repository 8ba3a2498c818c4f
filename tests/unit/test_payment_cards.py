"""Card checks and money conversions that need no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from patron.errors import ValidationFailed
from patron.payments.providers.offline import card_brand
from patron.payments.providers.stripe_provider import from_minor_units, to_minor_units
from patron.payments.services import CardInput, declined, luhn_valid, validate_card


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4000000000000002", True),
        ("4000000000009995", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4242424242424241", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_validate_card_accepts_spaces_and_two_digit_years() -> None:
    card = validate_card(CardInput(number=" 4242 4242 4242 4242 ", exp_month=12, exp_year=34, cvc=" 123 "))
    assert card == CardInput(number="4242424242424242", exp_month=12, exp_year=2034, cvc="123")


def test_validate_card_names_every_bad_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_card(CardInput(number="4242 4242 4242 4241", exp_month=13, exp_year=2034, cvc="12"))
    assert set(caught.value.fields) == {"number", "exp_month", "cvc"}
    assert caught.value.status == 422


@pytest.mark.parametrize("number", ["", "4242", "4242-4242-4242-424x", "\uff14\uff12" * 8])
def test_validate_card_rejects_non_numbers(number: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_card(CardInput(number=number, exp_month=1, exp_year=2040, cvc="123"))
    assert list(caught.value.fields) == ["number"]


def test_decline_messages_tell_the_shopper_what_to_do() -> None:
    error = declined("insufficient_funds")
    assert (error.status, error.code) == (402, "insufficient_funds")
    assert "another card" in error.message
    assert declined("do_not_honor").message.startswith("Your payment was declined")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("42.50", "USD", 4250), ("0.01", "eur", 1), ("1999.99", "GBP", 199999), ("1500.00", "JPY", 1500)],
)
def test_minor_units_round_trip(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


def test_card_brand() -> None:
    assert [card_brand(n) for n in ("4242424242424242", "5555555555554444", "378282246310005", "6011111111111117")] == [
        "visa",
        "mastercard",
        "amex",
        "discover",
    ]
