from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms

from patron.accounts.models import Address, Preferences, User


class UserCreationForm(auth_forms.BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = (
        ("label", "is_default"),
        "full_name",
        ("line1", "line2"),
        ("city", "region", "postal_code", "country"),
        "phone",
    )


class PreferencesInline(admin.StackedInline):
    model = Preferences
    can_delete = False
    fields = ("favourite_categories", "channels", "marketing_consent", "marketing_consent_at")
    readonly_fields = ("marketing_consent_at",)
    filter_horizontal = ("favourite_categories",)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    add_form = UserCreationForm
    form = UserChangeForm
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_active", "is_superuser", "date_joined")
    search_fields = ("email", "name")
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)
    inlines = (PreferencesInline, AddressInline)


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ("full_name", "user", "city", "postal_code", "country", "is_default")
    list_filter = ("is_default", "country")
    search_fields = ("full_name", "user__email", "line1", "city", "postal_code")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
