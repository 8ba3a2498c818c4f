"""The back-office's read-only inlines: ledgers and histories are shown under their parent and never edited there."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db.models import Model
from django.test import RequestFactory

from patron.accounts.models import User
from patron.admin_helpers import ReadOnlyInline

READ_ONLY = [
    (parent, inline)
    for parent, model_admin in admin.site._registry.items()
    for inline in model_admin.inlines
    if issubclass(inline, ReadOnlyInline)
]


def test_the_ledgers_and_histories_are_read_only_inlines() -> None:
    assert {inline.__name__ for _, inline in READ_ONLY} == {
        "CartLineInline",
        "OrderLineInline",
        "HistoryInline",
        "ShipmentInline",
        "TrackingEventInline",
        "PaymentInline",
        "PaymentEventInline",
        "MessageInline",
        "ConversationEventInline",
        "TicketEventInline",
        "ReportInline",
    }


@pytest.mark.parametrize(("parent", "inline_class"), READ_ONLY, ids=lambda value: value.__name__)
def test_even_a_superuser_can_only_read_the_rows(parent: type[Model], inline_class: type[ReadOnlyInline]) -> None:
    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    inline = inline_class(parent, admin.site)

    formset = inline.get_formset(request)

    assert not inline.has_add_permission(request, None)
    assert not inline.has_change_permission(request, None)
    assert inline.has_view_permission(request, None)
    assert (formset.extra, formset.can_delete) == (0, False)
    assert inline.get_readonly_fields(request) == inline.fields
