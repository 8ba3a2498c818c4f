"""Web forms of the account pages. They only shape input; the rules live in accounts.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms

from patron.accounts import services
from patron.accounts.models import Address, Channel, User
from patron.catalog.models import Category


def _password_input(autocomplete: str) -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": autocomplete})


class RegisterForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1 = forms.CharField(label="Password", strip=False, max_length=1024, widget=_password_input("new-password"))
    password2 = forms.CharField(
        label="Password (again)", strip=False, max_length=1024, widget=_password_input("new-password")
    )
    referral_code = forms.CharField(
        label="Referral code (optional)",
        max_length=40,
        required=False,
        help_text="From a friend's invitation: you both earn points after your first order.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", "The two passwords do not match.")
        return cleaned


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        label="Password", strip=False, max_length=1024, widget=_password_input("current-password")
    )


class ProfileForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class AddressForm(forms.ModelForm):
    class Meta:
        model = Address
        fields = (
            "label",
            "full_name",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "is_default",
        )
        labels = {
            "label": "Label (e.g. Home, Work)",
            "full_name": "Full name",
            "line1": "Address line 1",
            "line2": "Address line 2",
            "region": "State / region",
            "postal_code": "Postal code",
            "country": "Country code",
            "is_default": "Use as my default address",
        }
        help_texts = {"label": "", "country": "Two letters, e.g. US, GB, DE"}
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "region": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "country": forms.TextInput(
                attrs={"autocomplete": "country", "maxlength": 2, "size": 2, "autocapitalize": "characters"}
            ),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
        }

    def _post_clean(self) -> None:
        # The service validates the address (and enforces the default rules) when it is saved.
        pass


class CategoryChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        return f"· {obj.name}" if obj.parent_id else obj.name


class PreferencesForm(forms.Form):
    favourite_categories = CategoryChoiceField(
        label="Favourite categories",
        queryset=Category.objects.filter(parent__parent__isnull=True).order_by("path"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    channels = forms.MultipleChoiceField(
        label="How may we contact you?", choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    marketing_consent = forms.BooleanField(
        label="Send me offers and news", required=False, help_text="You can withdraw this at any time."
    )
    birthday = forms.DateField(
        label="Birthday (optional)",
        required=False,
        help_text="We send a treat on your birthday.",
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
    )


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label="Current password", strip=False, max_length=1024, widget=_password_input("current-password")
    )
    new_password = forms.CharField(
        label="New password", strip=False, max_length=1024, widget=_password_input("new-password")
    )
    new_password_again = forms.CharField(
        label="New password (again)", strip=False, max_length=1024, widget=_password_input("new-password")
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new, again = cleaned.get("new_password"), cleaned.get("new_password_again")
        if new and again and new != again:
            self.add_error("new_password_again", "The two passwords do not match.")
        return cleaned


class SetPasswordForm(auth_forms.SetPasswordForm):
    """Password reset's second step: the new password goes through the same service as the API's reset."""

    new_password1, new_password2 = auth_forms.SetPasswordMixin.create_password_fields(
        label1="New password", label2="New password (again)"
    )

    def __init__(
        self, user: User | None, *args: Any, uid: str = "", token: str = "", ip: str | None = None, **kwargs: Any
    ):
        super().__init__(user, *args, **kwargs)
        self.uid, self.token, self.ip = uid, token, ip

    def save(self, commit: bool = True) -> User:
        return services.reset_password(self.uid, self.token, self.cleaned_data["new_password1"], ip=self.ip)


class PasswordResetForm(forms.Form):
    """Password reset's first step; the view hands the address to services.request_password_reset."""

    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
