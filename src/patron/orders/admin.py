"""Back-office for orders: everything read-only, status changes only through actions that call the services.

Each action goes through `patron.orders.services`, so it is checked against the lifecycle, recorded in the
order's history with the staff member as actor, and publishes the same events as the API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from patron.accounts.models import User
from patron.admin_helpers import ReadOnlyInline, form_page
from patron.errors import DomainError
from patron.orders import services
from patron.orders.models import (
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from patron.payments.admin import PaymentInline


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("product_name", "sku", "options", "unit_price", "quantity", "line_total")
    readonly_fields = fields


class HistoryInline(ReadOnlyInline):
    model = OrderStatusChange
    verbose_name_plural = "status history"
    fields = ("at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = ("carrier", "tracking_number", "tracking_url", "shipped_at", "delivered_at")
    readonly_fields = fields
    show_change_link = True


class TrackingEventInline(ReadOnlyInline):
    model = TrackingEvent
    fields = ("at", "status", "location", "description", "external_id")
    readonly_fields = fields


class ShipmentForm(forms.Form):
    carrier = forms.CharField(max_length=100)
    tracking_number = forms.CharField(max_length=100)
    tracking_url = forms.URLField(max_length=500, required=False, assume_scheme="https")


class TrackingEventForm(forms.Form):
    at = forms.DateTimeField(initial=timezone.now)
    status = forms.ChoiceField(choices=TrackingStatus.choices)
    location = forms.CharField(max_length=200, required=False)
    description = forms.CharField(max_length=500, required=False)


def _staff(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "email", "status", "total", "currency", "placed_at")
    list_filter = ("status", "placed_at")
    search_fields = ("number", "email")
    date_hierarchy = "placed_at"
    readonly_fields = (
        "number",
        "user",
        "email",
        "status",
        "currency",
        "subtotal",
        "discount",
        "shipping",
        "tax",
        "total",
        "shipping_address",
        "placed_at",
    )
    inlines = (OrderLineInline, PaymentInline, ShipmentInline, HistoryInline)
    actions = ("mark_processing", "mark_shipped", "mark_delivered", "cancel", "refund_in_full")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<int:order_id>/ship/", self.admin_site.admin_view(self.ship_view), name="orders_order_ship"),
            path(
                "<int:order_id>/shipments/<int:shipment_id>/track/",
                self.admin_site.admin_view(self.track_view),
                name="orders_order_track",
            ),
        ]
        return own + super().get_urls()

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Order], change: Callable[[Order], object], done: str
    ) -> None:
        succeeded = 0
        for order in queryset.order_by("pk"):
            try:
                change(order)
            except DomainError as error:
                self.message_user(request, f"Order {order.number}: {error.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} order(s) {done}.", messages.SUCCESS)

    @admin.action(description="Mark as processing")
    def mark_processing(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        actor = _staff(request)
        self._each(
            request, queryset, lambda o: services.transition(o, OrderStatus.PROCESSING, actor=actor), "processing"
        )

    @admin.action(description="Mark as shipped (add a shipment)")
    def mark_shipped(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Ship one order at a time: each needs its tracking number.", messages.WARNING)
            return None
        order = queryset.get()
        return HttpResponseRedirect(reverse("admin:orders_order_ship", args=[order.pk]))

    @admin.action(description="Mark as delivered")
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        actor = _staff(request)
        self._each(request, queryset, lambda o: services.transition(o, OrderStatus.DELIVERED, actor=actor), "delivered")

    @admin.action(description="Cancel (restores stock, refunds payments)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        actor = _staff(request)
        self._each(
            request, queryset, lambda o: services.cancel_order(o, actor=actor, note="cancelled by staff"), "cancelled"
        )

    @admin.action(description="Refund in full")
    def refund_in_full(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        actor = _staff(request)
        self._each(request, queryset, lambda o: services.transition(o, OrderStatus.REFUNDED, actor=actor), "refunded")

    def _form_page(
        self, request: HttpRequest, order: Order, form: forms.Form, title: str, submit: Callable[[], object]
    ) -> HttpResponse:
        return form_page(
            self,
            request,
            form,
            submit=submit,
            done_message=f"Order {order.number}: {title.lower()} done.",
            done_url=reverse("admin:orders_order_change", args=[order.pk]),
            title=f"{title} · order {order.number}",
            template="admin/orders/order/form_page.html",
            context={"order": order},
        )

    def ship_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=order_id)
        form = ShipmentForm(request.POST or None)

        def submit() -> object:
            return services.add_shipment(order, actor=_staff(request), **form.cleaned_data)

        return self._form_page(request, order, form, "Add a shipment", submit)

    def track_view(self, request: HttpRequest, order_id: int, shipment_id: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=order_id)
        shipment = get_object_or_404(Shipment, pk=shipment_id, order=order)
        form = TrackingEventForm(request.POST or None)

        def submit() -> object:
            return services.add_tracking_event(shipment, **form.cleaned_data)

        return self._form_page(request, order, form, "Add a tracking event", submit)


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ("tracking_number", "carrier", "order", "shipped_at", "delivered_at")
    list_select_related = ("order",)
    search_fields = ("tracking_number", "order__number")
    readonly_fields = ("order", "carrier", "tracking_number", "tracking_url", "shipped_at", "delivered_at", "add_event")
    inlines = (TrackingEventInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="tracking")
    def add_event(self, shipment: Shipment) -> str:
        url = reverse("admin:orders_order_track", args=[shipment.order_id, shipment.pk])
        return format_html('<a class="button" href="{}">Add a tracking event</a>', url)
