"""The back-office's shared read-only admin keeps each app's delete rights: loyalty ledgers never, support records
for staff holding the delete permission."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.loyalty.models import PointsEntry
from patron.support.models import Conversation, Ticket

pytestmark = pytest.mark.django_db


def rights(user: User, model: type) -> tuple[bool, bool, bool]:
    request = RequestFactory().get("/admin/")
    request.user = user
    model_admin: admin.ModelAdmin[Any] = admin.site.get_model_admin(model)
    return (
        model_admin.has_add_permission(request),
        model_admin.has_change_permission(request),
        model_admin.has_delete_permission(request),
    )


def test_superusers_may_delete_support_records_but_never_loyalty_entries() -> None:
    boss = make_user("boss@example.com", is_staff=True, is_superuser=True)
    assert rights(boss, PointsEntry) == (False, False, False)
    assert rights(boss, Ticket) == (False, False, True)
    assert rights(boss, Conversation) == (False, False, True)


def test_support_deletes_still_need_the_permission() -> None:
    clerk = make_user("clerk@example.com", is_staff=True)
    assert rights(clerk, Ticket) == (False, False, False)
