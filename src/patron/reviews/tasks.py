"""Background jobs of reviews: reactions to domain events (see patron/events.py)."""

from __future__ import annotations

from django.tasks import task

from patron.reviews import services


@task
def verify_order_reviews(order_id: int) -> int:
    return services.verify_reviews_for_order(order_id)
