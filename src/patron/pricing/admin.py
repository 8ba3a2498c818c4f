"""Back-office for discount codes (with their uses), shipping methods and tax rates."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from patron.pricing.models import DiscountCode, DiscountRedemption, ShippingMethod, TaxRate
from patron.pricing.services import RELEASED_ORDER_STATUSES


class DiscountRedemptionInline(admin.TabularInline[DiscountRedemption, DiscountCode]):
    """The ledger is written by checkouts only; here it is for reading."""

    model = DiscountRedemption
    extra = 0
    can_delete = False
    fields = ("order", "email", "user", "amount", "redeemed_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DiscountRedemption]:
        return super().get_queryset(request).select_related("order", "user")


@admin.register(DiscountCode)
class DiscountCodeAdmin(admin.ModelAdmin[DiscountCode]):
    list_display = ("code", "kind", "value", "min_subtotal", "uses", "max_uses", "starts_at", "ends_at", "is_active")
    list_filter = ("is_active", "kind")
    search_fields = ("code", "note")
    readonly_fields = ("created_at",)
    raw_id_fields = ("user", "product")
    inlines = (DiscountRedemptionInline,)
    fieldsets = (
        (None, {"fields": ("code", "kind", "value", "product", "min_subtotal", "is_active", "note")}),
        ("Validity", {"fields": ("starts_at", "ends_at")}),
        ("Limits", {"fields": ("max_uses", "max_uses_per_customer", "user")}),
        (None, {"fields": ("created_at",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[DiscountCode]:
        counted = Count("redemptions", filter=~Q(redemptions__order__status__in=RELEASED_ORDER_STATUSES))
        return super().get_queryset(request).annotate(use_count=counted)

    @admin.display(description="uses", ordering="use_count")
    def uses(self, code: DiscountCode) -> int:
        return int(getattr(code, "use_count", 0))


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin[ShippingMethod]):
    list_display = ("name", "code", "price", "free_over", "countries", "min_days", "max_days", "position", "is_active")
    list_editable = ("price", "free_over", "position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    prepopulated_fields = {"code": ("name",)}


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin[TaxRate]):
    list_display = ("country", "region", "name", "rate", "applies_to_shipping")
    list_editable = ("rate", "applies_to_shipping")
    list_filter = ("country", "applies_to_shipping")
    search_fields = ("country", "region", "name")
