"""The back-office's event list: read-only, filtered by name and date, newest first."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from patron.analytics.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ("created_at", "name", "user_id", "visitor_id", "product_id")
    list_filter = ("name", ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    # Exact lookups keep to the indexes; a term that is not a number skips the number fields.
    search_fields = ("visitor_id__exact", "user_id__exact", "product_id__exact")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = ("name", "user_id", "visitor_id", "session_key", "product_id", "payload", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False
