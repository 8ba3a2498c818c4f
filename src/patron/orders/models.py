from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    PAID = "paid", "Paid"
    PROCESSING = "processing", "Processing"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


class Order(models.Model):
    """A placed order. Item names and prices are snapshots, so later catalog edits never change it."""

    number = models.CharField(max_length=20, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    email = models.EmailField()
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT)
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    shipping = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    tax = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    shipping_address = models.JSONField(default=dict, blank=True)
    shipping_method = models.CharField(max_length=50, blank=True)
    # Whether the order's units are currently taken out of stock: a declined payment puts them back at once,
    # a retried payment takes them again, and cancelling gives back only what is still held.
    stock_reserved = models.BooleanField(default=True)
    placed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-placed_at", "-id")

    def __str__(self) -> str:
        return f"Order {self.number}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="order_lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="order_lines")
    product_name = models.CharField(max_length=200)
    sku = models.CharField(max_length=64)
    options = models.JSONField(default=dict, blank=True)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_name}"


class OrderStatusChange(models.Model):
    """The order's history: every transition with its time, actor and note."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '-'} -> {self.to_status}"


class Shipment(models.Model):
    """A parcel handed to a carrier; its tracking events come from staff or the carrier's webhook."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=100)
    tracking_number = models.CharField(max_length=100, db_index=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    shipped_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class TrackingStatus(models.TextChoices):
    LABEL_CREATED = "label_created", "Label created"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "exception", "Delivery problem"


class TrackingEvent(models.Model):
    """A step of a parcel's journey. `external_id` is the carrier's event id, so a replayed webhook adds nothing."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=TrackingStatus.choices)
    location = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("at", "id")
        constraints = [
            models.UniqueConstraint(fields=("shipment", "external_id"), name="tracking_event_external_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.at:%Y-%m-%d %H:%M}"


class OrderEmail(models.Model):
    """Which customer emails went out, so a retried task never sends the same one twice."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    key = models.CharField(max_length=50, help_text="kind of email and what it is about, e.g. shipped:12")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("order", "key"), name="order_email_once")]

    def __str__(self) -> str:
        return f"{self.key} for order {self.order_id}"


class OrderRequest(models.Model):
    """An `Idempotency-Key` seen at checkout: a retry of the same request gets the same order.

    `scope` is whose key it is (a customer or a guest cart), so two shoppers can never collide; `fingerprint`
    is a digest of what was asked, so the same key with a different request is refused. The unique constraint
    lets only one of two simultaneous retries create the order.
    """

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    # By number, which is chosen before the order row is written: the key is claimed first, so a simultaneous
    # retry waits on it instead of doing the work twice (the foreign key is checked at commit).
    order = models.OneToOneField(
        Order, to_field="number", db_column="order_number", on_delete=models.CASCADE, related_name="request"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("scope", "key"), name="order_request_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    RECEIVED = "received", "Received"
    REFUNDED = "refunded", "Refunded"
    REJECTED = "rejected", "Rejected"


class ReturnRequest(models.Model):
    """A shopper's request to send delivered items back; staff receive the parcel and refund with `refund_order`."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="returns")
    status = models.CharField(max_length=20, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED)
    # [{"line_id": 12, "quantity": 1}, ...]: which of the order's lines, and how many units of each.
    lines = models.JSONField(default=list)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"Return {self.pk} of order {self.order_id} ({self.status})"
