"""Payments in the back-office: read-only ledgers; money moves only through the payment services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from patron.accounts.models import User
from patron.admin_helpers import ReadOnlyInline
from patron.errors import DomainError
from patron.payments import services
from patron.payments.models import Payment, PaymentEvent

PAYMENT_FIELDS = (
    "order",
    "provider",
    "provider_reference",
    "amount",
    "currency",
    "status",
    "amount_refunded",
    "failure_code",
    "failure_message",
    "idempotency_key",
    "created_at",
    "updated_at",
)


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ("created_at", "kind", "amount", "provider_event_id", "data")
    readonly_fields = fields


class PaymentInline(ReadOnlyInline):
    """The payments of an order, for the Order admin."""

    model = Payment
    fields = ("created_at", "provider", "status", "amount", "amount_refunded", "failure_code", "provider_reference")
    readonly_fields = fields
    show_change_link = True


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("id", "order", "provider", "status", "amount", "amount_refunded", "currency", "created_at")
    list_filter = ("provider", "status", "created_at")
    search_fields = ("order__number", "order__email", "provider_reference", "idempotency_key")
    list_select_related = ("order",)
    readonly_fields = PAYMENT_FIELDS
    fields = PAYMENT_FIELDS
    inlines = (PaymentEventInline,)
    actions = ("refund",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Refund what remains of the selected payments", permissions=("change",))
    def refund(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        actor = request.user if isinstance(request.user, User) else None
        for payment in queryset.order_by("pk"):
            try:
                refunded = services.refund_payment(payment, actor=actor, reason="Refunded from the back-office")
            except DomainError as exc:
                self.message_user(request, f"Payment {payment.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Payment {payment.pk}: refunded, {refunded.amount_refunded} {refunded.currency} in total.",
                    messages.SUCCESS,
                )
