"""Back-office: the merchant's serving rules and settings, and the trained versions with a "Train now" button."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from patron.recommendations.models import ModelVersion, RecommendationRule, RecommendationSettings
from patron.recommendations.services import forget_rules
from patron.recommendations.tasks import train_recommendations


@admin.register(RecommendationSettings)
class RecommendationSettingsAdmin(admin.ModelAdmin[RecommendationSettings]):
    list_display = ("__str__", "just_bought_days", "new_arrival_days", "new_arrival_boost", "on_sale_boost")
    fieldsets = (
        ("Already bought", {"fields": ("just_bought_days",)}),
        ("Boosts", {"fields": ("new_arrival_days", "new_arrival_boost", "on_sale_boost")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RecommendationSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RecommendationRule)
class RecommendationRuleAdmin(admin.ModelAdmin[RecommendationRule]):
    list_display = ("kind", "product", "category", "note", "created_at")
    list_filter = ("kind",)
    list_select_related = ("product", "category")
    search_fields = ("product__name", "category__name", "note")
    autocomplete_fields = ("product", "category")
    fields = ("kind", "product", "category", "note")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RecommendationRule]) -> None:
        super().delete_queryset(request, queryset)
        forget_rules()


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    change_list_template = "admin/recommendations/modelversion/change_list.html"
    list_display = ("label", "status", "is_active", "started_at", "trained_at", "sizes")
    list_filter = ("status", "is_active")
    readonly_fields = (
        "name",
        "version",
        "status",
        "is_active",
        "started_at",
        "heartbeat_at",
        "trained_at",
        "parameters",
        "metrics",
        "error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="results")
    def sizes(self, version: ModelVersion) -> str:
        metrics = version.metrics or {}
        keys = ("products", "similar_rows", "bought_together_rows", "users")
        return ", ".join(f"{key.replace('_', ' ')} {metrics[key]:,}" for key in keys if key in metrics)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "train/",
                self.admin_site.admin_view(require_POST(self.train_view)),
                name="recommendations_modelversion_train",
            )
        ]
        return own + super().get_urls()

    def train_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        train_recommendations.enqueue()
        self.message_user(
            request,
            "Training queued: a background worker will train and activate a new version (reload to follow it).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:recommendations_modelversion_changelist"))
