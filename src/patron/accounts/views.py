"""Account pages: sign-up, sign-in, profile, addresses, preferences and passwords (session auth, CSRF)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.views.generic import FormView

from patron.accounts import forms, services
from patron.accounts.auth import client_ip
from patron.accounts.models import User
from patron.cart.services import claim_session_cart
from patron.errors import DomainError, RateLimited
from patron.forms import apply_domain_error


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters("password1", "password2")
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:profile")
    # A friend's invitation link carries their referral code as `?ref=`.
    form = forms.RegisterForm(request.POST or None, initial={"referral_code": request.GET.get("ref", "")})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.register_user(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                name=form.cleaned_data["name"],
                referral_code=form.cleaned_data["referral_code"],
            )
        except DomainError as error:
            apply_domain_error(form, error, {"password": "password1"})
        else:
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready.")
            return redirect(_next_url(request))
    return render(request, "accounts/register.html", {"form": form, "next": request.GET.get("next", "")})


@sensitive_post_parameters("password")
def login(request: HttpRequest) -> HttpResponse:
    form = forms.LoginForm(request.POST or None)
    retry_after: int | None = None
    if request.method == "POST" and form.is_valid():
        try:
            user = services.authenticate_user(
                form.cleaned_data["email"], form.cleaned_data["password"], ip=client_ip(request)
            )
        except RateLimited as error:
            form.add_error(None, error.message)
            retry_after = error.retry_after
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            claim_session_cart(request)
            return redirect(_next_url(request))
    response = render(
        request, "accounts/login.html", {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    )
    if retry_after is not None:
        response.status_code = 429
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, "You are signed out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = forms.ProfileForm(request.POST or None, initial={"name": user.name, "email": user.email})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_profile(user, name=form.cleaned_data["name"], email=form.cleaned_data["email"])
        except DomainError as error:
            user.refresh_from_db()
            apply_domain_error(form, error)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def addresses(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/addresses.html", {"addresses": services.list_addresses(_user(request))})


@login_required
def address_add(request: HttpRequest) -> HttpResponse:
    form = forms.AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_address(_user(request), form.cleaned_data)
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, "Address added.")
            return redirect("accounts:addresses")
    return render(request, "accounts/address_form.html", {"form": form, "address": None})


@login_required
def address_edit(request: HttpRequest, pk: int) -> HttpResponse:
    address = services.get_address(_user(request), pk)
    form = forms.AddressForm(request.POST or None, instance=address)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_address(_user(request), pk, form.cleaned_data)
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, "Address saved.")
            return redirect("accounts:addresses")
    return render(request, "accounts/address_form.html", {"form": form, "address": address})


@require_POST
@login_required
def address_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.delete_address(_user(request), pk)
    messages.success(request, "Address deleted.")
    return redirect("accounts:addresses")


@require_POST
@login_required
def address_default(request: HttpRequest, pk: int) -> HttpResponse:
    services.set_default_address(_user(request), pk)
    messages.success(request, "Default address changed.")
    return redirect("accounts:addresses")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    current = services.get_preferences(user)
    form = forms.PreferencesForm(
        request.POST or None,
        initial={
            "favourite_categories": [category.pk for category in current.favourite_categories.all()],
            "channels": current.channels,
            "marketing_consent": current.marketing_consent,
            "birthday": current.birthday,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.set_birthday(user, form.cleaned_data["birthday"])
            services.update_preferences(
                user,
                channels=form.cleaned_data["channels"],
                marketing_consent=form.cleaned_data["marketing_consent"],
                favourite_category_ids=[category.pk for category in form.cleaned_data["favourite_categories"]],
            )
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, "Your preferences are saved.")
            return redirect("accounts:preferences")
    return render(request, "accounts/preferences.html", {"form": form, "preferences": current})


@sensitive_post_parameters("current_password", "new_password", "new_password_again")
@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = forms.PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.change_password(
                user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            # Keep this browser signed in; other sessions end because the password hash changed.
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed.")
            return redirect("accounts:profile")
    return render(request, "accounts/password_change.html", {"form": form})


def _rate_limited(response: HttpResponse, error: RateLimited) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(error.retry_after)
    return response


class PasswordResetView(FormView[forms.PasswordResetForm]):
    """The emailed link points at the host and scheme the shopper used to ask for it."""

    form_class = forms.PasswordResetForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: forms.PasswordResetForm) -> HttpResponse:
        request = self.request
        try:
            services.request_password_reset(
                form.cleaned_data["email"], ip=client_ip(request), base_url=f"{request.scheme}://{request.get_host()}"
            )
        except RateLimited as error:
            form.add_error(None, error.message)
            return _rate_limited(self.form_invalid(form), error)
        except DomainError as error:
            apply_domain_error(form, error)
            return self.form_invalid(form)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's page (the token moves from the address into the session), with the link checked and the
    password set by the same services as the API's reset, so both count invalid links against one limit."""

    form_class = forms.SetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    @method_decorator(sensitive_post_parameters())
    @method_decorator(never_cache)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        uid, token = kwargs["uidb64"], kwargs["token"]
        from_session = token == self.reset_url_token
        if from_session:
            token = request.session.get(INTERNAL_RESET_SESSION_TOKEN, "")
        self.validlink, self.user, self.reset_token = False, None, token
        try:
            self.user = services.check_password_reset_link(uid, token, ip=client_ip(request))
        except RateLimited as error:
            return _rate_limited(self.render_to_response(self.get_context_data(refusal=error.message)), error)
        except DomainError:
            return self.render_to_response(self.get_context_data())
        if not from_session:
            # Keep the token out of the address bar, and so out of Referer headers, from here on.
            request.session[INTERNAL_RESET_SESSION_TOKEN] = token
            return HttpResponseRedirect(request.path.replace(token, self.reset_url_token))
        self.validlink = True
        # Skip Django's own check of the link: the service has just made it.
        return super(auth_views.PasswordResetConfirmView, self).dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {
            **super().get_form_kwargs(),
            "uid": self.kwargs["uidb64"],
            "token": self.reset_token,
            "ip": client_ip(self.request),
        }

    def form_valid(self, form: forms.SetPasswordForm) -> HttpResponse:  # type: ignore[override]
        try:
            return super().form_valid(form)
        except DomainError as error:
            # The link went stale while the form was open, or the service refused the password.
            apply_domain_error(form, error, {"new_password": "new_password2"})
            return self.form_invalid(form)


password_reset = PasswordResetView.as_view()
password_reset_done = auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
password_reset_confirm = PasswordResetConfirmView.as_view()
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)
