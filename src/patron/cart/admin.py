"""Back-office for carts: what shoppers are about to buy, for reading only.

A cart belongs to its shopper and changes only through the cart services (the storefront and the API), so staff
can neither add, edit nor delete carts or their lines here. The list's item counts and subtotals come from
`cart.services.with_totals`; the detail page names what stands in the way of buying from the same priced view the
shopper sees (`view_cart`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join

from patron.admin_helpers import ReadOnlyAdmin, ReadOnlyInline
from patron.cart import services
from patron.cart.models import Cart, CartLine
from patron.errors import DomainError
from patron.pricing.services import ZERO, QuoteLine, money

GUEST = "guest"


class OwnerFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("customer", "Signed-in customers"), (GUEST, "Guests")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "customer":
            return queryset.filter(user__isnull=False)
        if self.value() == GUEST:
            return queryset.filter(user__isnull=True)
        return queryset


# How recently a cart changed: still shopping, left lately (when reminders go out), or long gone quiet.
RECENT = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
IDLE = "idle"


class ActivityFilter(admin.SimpleListFilter):
    title = "last activity"
    parameter_name = "activity"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("24h", "In the last 24 hours"),
            ("7d", "In the last 7 days"),
            ("30d", "In the last 30 days"),
            (IDLE, "Idle for over 30 days"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in RECENT:
            return queryset.filter(updated_at__gte=timezone.now() - RECENT[value])
        if value == IDLE:
            return queryset.filter(updated_at__lt=timezone.now() - RECENT["30d"])
        return queryset


class ContentsFilter(admin.SimpleListFilter):
    """An empty cart was bought (checkout empties it) or cleared; the others still hold something to sell."""

    title = "contents"
    parameter_name = "contents"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("items", "With items"), ("empty", "Empty")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        has_lines = Exists(CartLine.objects.filter(cart=OuterRef("pk")))
        if self.value() == "items":
            return queryset.filter(has_lines)
        if self.value() == "empty":
            return queryset.exclude(has_lines)
        return queryset


class CartLineInline(ReadOnlyInline):
    model = CartLine
    verbose_name_plural = "lines"
    fields = ("product", "sku", "options", "quantity", "unit_price", "line_total", "stock", "added_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CartLine]:
        return super().get_queryset(request).select_related("variant__product")

    @admin.display(description="product")
    def product(self, line: CartLine) -> str:
        return line.variant.product.name

    @admin.display(description="SKU")
    def sku(self, line: CartLine) -> str:
        return line.variant.sku

    @admin.display(description="options")
    def options(self, line: CartLine) -> str:
        return ", ".join(f"{name}: {value}" for name, value in line.variant.options.items())

    @admin.display(description="unit price (current)")
    def unit_price(self, line: CartLine) -> Decimal:
        return line.variant.price

    @admin.display(description="line total")
    def line_total(self, line: CartLine) -> Decimal:
        # The pricing service's rounding, as the cart page shows it.
        return QuoteLine(variant_id=line.variant_id, unit_price=line.variant.price, quantity=line.quantity).line_total

    @admin.display(description="stock")
    def stock(self, line: CartLine) -> int:
        return line.variant.stock


@admin.register(Cart)
class CartAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "item_count", "subtotal", "updated_at", "created_at")
    list_select_related = ("user",)
    list_filter = (OwnerFilter, ActivityFilter, ContentsFilter)
    search_fields = ("user__email",)
    ordering = ("-updated_at", "-pk")
    fields = ("owner", "item_count", "subtotal", "problems", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (CartLineInline,)
    # With a filter or search on, Django would also count every cart ("3 of 5,000"): one query less without it.
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cart]:
        return services.with_totals(super().get_queryset(request))

    @admin.display(description="owner", ordering="user__email")
    def owner(self, cart: Cart) -> str:
        return cart.user.email if cart.user is not None else GUEST

    @admin.display(description="items", ordering="item_count")
    def item_count(self, cart: Cart) -> int:
        return int(getattr(cart, "item_count", 0))

    @admin.display(description="subtotal", ordering="subtotal")
    def subtotal(self, cart: Cart) -> Decimal:
        # SQLite hands computed decimals back unscaled (91 for 91.00); shown in cents like every other amount.
        return money(getattr(cart, "subtotal", ZERO))

    @admin.display(description="what stands in the way of buying")
    def problems(self, cart: Cart) -> str:
        # The shopper's own priced view names the lines the subtotal leaves out, and why.
        try:
            found = services.view_cart(cart).problems
        except DomainError as refusal:
            found = [refusal.message]
        if not found:
            return "-"
        return format_html_join("", "<div>{}</div>", ((problem,) for problem in found))
