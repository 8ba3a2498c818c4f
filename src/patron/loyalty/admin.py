"""Back-office for the loyalty program: settings, earning rules, tiers and rewards are edited freely; a customer's
ledger is read-only and changes only through the manual adjustment form, which goes through the services (with
the staff member and their reason recorded). The liability report shows the points outstanding and their value.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from patron.accounts.models import User
from patron.admin_helpers import ReadOnlyAdmin, form_page
from patron.errors import DomainError
from patron.loyalty import config, services
from patron.loyalty.models import (
    PROGRAM_ID,
    EarningRule,
    LoyaltyPoints,
    LoyaltyProgram,
    PointsEntry,
    Referral,
    Reward,
    Tier,
    TierChange,
)

LEDGER_ROWS = 50


class ConfigurationAdmin[M: (EarningRule, Tier, Reward)](admin.ModelAdmin[M]):
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[M]) -> None:
        super().delete_queryset(request, queryset)
        # A bulk delete skips the models' delete, which is what refreshes the cached configuration.
        config.changed()


@admin.register(LoyaltyProgram)
class LoyaltyProgramAdmin(admin.ModelAdmin[LoyaltyProgram]):
    """One row of settings: the list goes straight to it; starter tiers, rules and rewards come from a button."""

    fieldsets = (
        (None, {"fields": ("name", "is_active", "point_value")}),
        ("Earning", {"fields": ("earn_on_shipping", "earn_on_tax", "return_window_days", "undelivered_release_days")}),
        ("Expiry", {"fields": ("expiry_days", "expiry_warning_days")}),
        ("Tiers", {"fields": ("tier_basis", "tier_period_days")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("liability/", self.admin_site.admin_view(self.liability_view), name="loyalty_liability"),
            path("starter/", self.admin_site.admin_view(self.starter_view), name="loyalty_starter"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        LoyaltyProgram.objects.get_or_create(pk=PROGRAM_ID)
        return HttpResponseRedirect(reverse("admin:loyalty_loyaltyprogram_change", args=[PROGRAM_ID]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        LoyaltyProgram.objects.get_or_create(pk=PROGRAM_ID)
        extra = {
            **(extra_context or {}),
            "liability_url": reverse("admin:loyalty_liability"),
            "starter_url": reverse("admin:loyalty_starter"),
            "can_install_starter": not (
                Tier.objects.exists() or EarningRule.objects.exists() or Reward.objects.exists()
            ),
        }
        return super().change_view(request, object_id, form_url, extra)

    def liability_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Points liability",
            "report": services.liability_report(),
            "currency": settings.STORE_CURRENCY,
        }
        return TemplateResponse(request, "admin/loyalty/liability.html", context)

    def starter_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            try:
                services.install_starter_program()
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, "Starter tiers, rules and rewards added.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:loyalty_loyaltyprogram_change", args=[PROGRAM_ID]))


@admin.register(EarningRule)
class EarningRuleAdmin(ConfigurationAdmin[EarningRule]):
    list_display = (
        "name",
        "kind",
        "points",
        "multiplier",
        "starts_at",
        "ends_at",
        "max_awards_per_customer",
        "is_active",
    )
    list_editable = ("is_active",)
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    autocomplete_fields = ("product", "category")
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active", "points")}),
        ("Multiplier", {"fields": ("multiplier", "product", "category")}),
        ("Dates and limits", {"fields": ("starts_at", "ends_at", "max_awards_per_customer", "max_points_per_award")}),
    )


@admin.register(Tier)
class TierAdmin(ConfigurationAdmin[Tier]):
    list_display = ("name", "threshold", "earn_multiplier", "free_shipping", "early_access", "priority_support")
    list_editable = ("threshold", "earn_multiplier", "free_shipping", "early_access", "priority_support")


@admin.register(Reward)
class RewardAdmin(ConfigurationAdmin[Reward]):
    list_display = ("name", "kind", "value", "points_cost", "min_order", "valid_days", "position", "is_active")
    list_editable = ("points_cost", "position", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    autocomplete_fields = ("product",)


class AdjustmentForm(forms.Form):
    points = forms.IntegerField(help_text="Positive to add, negative to remove.")
    reason = forms.CharField(max_length=200, help_text="Recorded in the customer's history.")


@admin.register(LoyaltyPoints)
class LoyaltyPointsAdmin(ReadOnlyAdmin):
    """A customer's points: the balance beside its ledger, the ledger itself, and the manual adjustment form."""

    list_display = ("user", "points", "pending", "tier", "ledger_agrees", "last_activity_at")
    list_select_related = ("user", "tier")
    list_filter = ("tier",)
    search_fields = ("user__email", "referral_code")
    readonly_fields = (
        "user",
        "points",
        "pending",
        "tier",
        "tier_until",
        "referral_code",
        "last_activity_at",
        "expiry_warned_at",
        "updated_at",
        "ledger",
        "adjust",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[LoyaltyPoints]:
        return services.with_ledger_sums(super().get_queryset(request))

    @admin.display(description="ledger agrees", boolean=True)
    def ledger_agrees(self, account: LoyaltyPoints) -> bool:
        sums = (getattr(account, "ledger_points", None), getattr(account, "ledger_pending", None))
        return sums == (account.points, account.pending)

    @admin.display(description="ledger")
    def ledger(self, account: LoyaltyPoints) -> str:
        entries = (
            PointsEntry.objects.filter(user_id=account.user_id)
            .select_related("order", "actor")
            .order_by("-created_at", "-pk")[:LEDGER_ROWS]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{entry.created_at:%Y-%m-%d %H:%M}",
                    entry.get_kind_display(),
                    f"{entry.points:+d}",
                    f"{entry.pending:+d}",
                    entry.description,
                    entry.order.number if entry.order else "",
                    entry.actor or "",
                )
                for entry in entries
            ),
        )
        url = reverse("admin:loyalty_pointsentry_changelist") + f"?user__id__exact={account.user_id}"
        return format_html(
            "<table><thead><tr><th>When</th><th>What</th><th>Points</th><th>Pending</th><th>Description</th>"
            '<th>Order</th><th>By</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">Every entry</a></p>',
            rows,
            url,
        )

    @admin.display(description="adjust")
    def adjust(self, account: LoyaltyPoints) -> str:
        url = reverse("admin:loyalty_loyaltypoints_adjust", args=[account.pk])
        return format_html('<a class="button" href="{}">Add or remove points</a>', url)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:account_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="loyalty_loyaltypoints_adjust",
            )
        ]
        return own + super().get_urls()

    def adjust_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        account = get_object_or_404(LoyaltyPoints.objects.select_related("user"), pk=account_id)
        form = AdjustmentForm(request.POST or None)

        def submit() -> object:
            staff = request.user if isinstance(request.user, User) else None
            return services.adjust_points(
                account.user_id, form.cleaned_data["points"], reason=form.cleaned_data["reason"], actor=staff
            )

        return form_page(
            self,
            request,
            form,
            submit=submit,
            done_message=f"Points of {account.user} adjusted.",
            done_url=reverse("admin:loyalty_loyaltypoints_change", args=[account.pk]),
            title=f"Adjust the points of {account.user}",
            template="admin/loyalty/adjust.html",
            context={"account": account},
        )


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "kind", "points", "pending", "description", "order", "actor")
    list_select_related = ("user", "order", "actor")
    list_filter = ("kind",)
    search_fields = ("user__email", "description", "order__number")
    date_hierarchy = "created_at"


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "user", "from_tier", "to_tier", "qualifying")
    list_select_related = ("user", "from_tier", "to_tier")
    search_fields = ("user__email",)


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "referrer", "referred", "status", "reason", "order")
    list_select_related = ("referrer", "referred", "order")
    list_filter = ("status",)
    search_fields = ("referrer__email", "referred__email")
