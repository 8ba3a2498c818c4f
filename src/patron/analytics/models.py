"""Behavioural events: what shoppers did, when, as whom, with a small JSON payload.

Rows are written in batches by `analytics.buffer`, never one per request, and purged after
ANALYTICS_RETENTION_DAYS. `user_id` is a plain integer rather than a foreign key: a batch insert then needs no
lookups or constraint checks, and an event outlives neither its retention period nor the purge.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventName(models.TextChoices):
    PRODUCT_VIEWED = "product_viewed", "Product viewed"
    SEARCH_PERFORMED = "search_performed", "Search performed"
    CART_ITEM_ADDED = "cart_item_added", "Added to cart"
    CART_ITEM_REMOVED = "cart_item_removed", "Removed from cart"
    CHECKOUT_STARTED = "checkout_started", "Checkout started"
    ORDER_PLACED = "order_placed", "Order placed"
    RECOMMENDATION_SHOWN = "recommendation_shown", "Recommendation shown"
    RECOMMENDATION_CLICKED = "recommendation_clicked", "Recommendation clicked"


EVENT_NAMES = frozenset(EventName.values)
# What a page's script may report through POST /api/analytics/events; everything else is recorded on the server.
CLIENT_EVENTS = frozenset(
    {
        EventName.PRODUCT_VIEWED,
        EventName.SEARCH_PERFORMED,
        EventName.RECOMMENDATION_SHOWN,
        EventName.RECOMMENDATION_CLICKED,
    }
)


class Event(models.Model):
    """One thing a shopper did. Both ids are kept for a signed-in shopper, so that what their browser did before
    they signed in can be joined to their account through `visitor_id`."""

    name = models.CharField(max_length=32, choices=EventName.choices)
    user_id = models.BigIntegerField(null=True, blank=True)
    visitor_id = models.CharField(max_length=32, blank=True)
    session_key = models.CharField(max_length=40, blank=True)
    # The payload's product, as a column, for the "recently viewed" and co-view reads.
    product_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["name", "created_at"], name="analytics_event_name_time"),
            models.Index(
                fields=["user_id", "created_at"],
                name="analytics_viewed_by_user",
                condition=Q(name="product_viewed", user_id__isnull=False),
            ),
            models.Index(
                fields=["visitor_id", "created_at"],
                name="analytics_viewed_by_visitor",
                condition=Q(name="product_viewed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} at {self.created_at:%Y-%m-%d %H:%M:%S}"
