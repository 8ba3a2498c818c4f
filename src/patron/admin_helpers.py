"""What the back-office's admin pages share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from patron.errors import DomainError
from patron.forms import apply_domain_error


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent for reading only: ledgers and histories change through the services, which
    record who changed what, so staff can neither add, edit nor delete a row here. Subclasses name the model and
    its fields."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records staff read but never add or edit here: they change only through the services (or the app's own
    back-office actions), which check the rules and record who did what.

    Deleting is refused too unless a subclass sets `allow_delete`; even then the staff member still needs the
    model's delete permission."""

    allow_delete: ClassVar[bool] = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allow_delete and super().has_delete_permission(request, obj)


def form_page(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    form: forms.Form,
    *,
    submit: Callable[[], object],
    done_message: str,
    done_url: str,
    title: str,
    template: str,
    context: Mapping[str, Any] | None = None,
) -> HttpResponse:
    """A custom back-office page with one form whose valid POST calls a service (`submit`).

    A service's refusal is shown beside the form's fields; success is reported in the admin's messages and leads to
    `done_url`. Otherwise the form is rendered in `template` inside the admin's frame, with `context` (the record
    the page is about) for its breadcrumbs.
    """
    if request.method == "POST" and form.is_valid():
        try:
            submit()
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            model_admin.message_user(request, done_message, messages.SUCCESS)
            return HttpResponseRedirect(done_url)
    page = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        **(context or {}),
        "form": form,
    }
    return TemplateResponse(request, template, page)
