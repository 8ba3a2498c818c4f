"""Background jobs of the orders app: reactions to domain events (see patron/events.py) and upkeep."""

from __future__ import annotations

from crontask import cron
from django.tasks import task

from patron.orders import emails, services


@task
def mark_order_paid(payment_id: int, order_id: int) -> str:
    return services.mark_paid(order_id, payment_id).status


@task
def send_confirmation_email(order_id: int) -> bool:
    return emails.send_confirmation(order_id)


@task
def send_shipped_email(order_id: int, shipment_id: int) -> bool:
    return emails.send_shipped(order_id, shipment_id)


@task
def send_delivered_email(order_id: int) -> bool:
    return emails.send_delivered(order_id)


@cron("*/5 * * * *")
@task
def expire_unpaid_orders() -> int:
    return services.expire_unpaid_orders()
