"""How a service's refusal lands on a form, for every page that shows one (account, review and back-office forms)."""

from __future__ import annotations

from django import forms

from patron.errors import Conflict, DomainError, ValidationFailed
from patron.forms import apply_domain_error


class SignUp(forms.Form):
    email = forms.EmailField()
    password1 = forms.CharField()


def refused(error: DomainError, field_names: dict[str, str] | None = None) -> SignUp:
    form = SignUp({"email": "ann@example.com", "password1": "x"})
    assert form.is_valid()
    apply_domain_error(form, error, field_names)
    return form


def test_a_refusal_naming_no_field_is_shown_at_the_top() -> None:
    form = refused(Conflict("Try again later."))

    assert form.non_field_errors() == ["Try again later."]
    assert form.errors.keys() == {"__all__"}


def test_field_problems_go_beside_their_inputs_and_the_message_is_not_repeated_above() -> None:
    form = refused(ValidationFailed("Check the form.", fields={"email": ["Taken.", "Too long."]}))

    assert form.errors["email"] == ["Taken.", "Too long."]
    assert form.non_field_errors() == []
    assert "email" not in form.cleaned_data


def test_a_service_field_name_is_mapped_to_the_forms_own() -> None:
    form = refused(
        ValidationFailed("Choose a stronger password.", fields={"password": ["Too short."]}), {"password": "password1"}
    )

    assert form.errors["password1"] == ["Too short."]
    assert form.non_field_errors() == []


def test_problems_of_fields_the_form_lacks_are_shown_at_the_top_after_the_message() -> None:
    form = refused(ValidationFailed("The address is not valid.", fields={"__all__": ["Already saved."]}))

    assert form.non_field_errors() == ["The address is not valid.", "Already saved."]


def test_beside_a_placed_field_only_the_unplaced_problems_go_to_the_top() -> None:
    error = ValidationFailed("Not valid.", fields={"email": ["Taken."], "variant": ["Choose another."]})

    form = refused(error)

    assert form.errors["email"] == ["Taken."]
    assert form.non_field_errors() == ["Choose another."]


def test_a_line_is_not_shown_twice_at_the_top() -> None:
    form = refused(ValidationFailed("Enter a valid email.", fields={"contact": ["Enter a valid email."]}))

    assert form.non_field_errors() == ["Enter a valid email."]
