"""Background jobs of the loyalty program: reactions to the core's events (see patron/events.py) and daily upkeep.

Each is idempotent (awards carry keys, reversals recompute what is still due), so a retry or a second worker
changes nothing.
"""

from __future__ import annotations

import logging

from crontask import cron
from django.tasks import task

from patron.loyalty import services

logger = logging.getLogger(__name__)


@task
def award_order_points(order_id: int) -> int:
    return len(services.award_order_points(order_id))


@task
def schedule_order_points(order_id: int) -> int:
    return services.schedule_release(order_id)


@task
def reverse_order_points(order_id: int) -> int:
    return len(services.reverse_order_points(order_id))


@task
def reverse_refunded_points(payment_id: int, order_id: int, amount: str) -> int:
    return len(services.reverse_order_points(order_id))


@task
def welcome_customer(user_id: int, referral_code: str) -> int:
    return len(services.welcome_customer(user_id, referral_code))


@task
def award_review_points(review_id: int, user_id: int, product_id: int) -> int:
    return len(services.award_review_points(user_id, product_id))


@cron("10 2 * * *")
@task
def release_pending_points() -> int:
    return services.release_pending_points()


@cron("20 2 * * *")
@task
def expire_points() -> int:
    """Warnings go out first: points expire only once their owner has been warned (see the services)."""
    services.warn_expiring_points()
    return services.expire_inactive_points()


@cron("30 2 * * *")
@task
def refresh_tiers() -> int:
    return services.refresh_lapsed_tiers()


@cron("5 6 * * *")
@task
def award_birthday_points() -> int:
    return services.award_birthday_points()


@cron("40 3 * * *")
@task
def check_balances() -> int:
    disagreeing = services.disagreeing_balances()
    if disagreeing:
        logger.error("Loyalty balances differ from their ledgers for users %s", disagreeing[:50])
    return len(disagreeing)
