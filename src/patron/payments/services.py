"""Payments: taking an order's money through the configured provider, refunds, voids, and the provider's webhooks.

Every status change of a payment is an event row (its ledger); the order reacts to the published domain events
(`PaymentSucceeded`, `PaymentFailed`, `PaymentRefunded`) and never has its status written here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from patron import events
from patron.accounts.models import User
from patron.errors import Conflict, DomainError, ValidationFailed
from patron.orders.models import Order, OrderStatus
from patron.payments.models import Payment, PaymentEvent, PaymentEventKind, PaymentStatus
from patron.payments.providers import (
    CancelOutcome,
    CardInput,
    ChargeOutcome,
    ChargeRequest,
    OfflineProvider,
    PaymentProvider,
    ProviderUnavailable,
    StripeProvider,
    get_provider,
)
from patron.payments.providers.stripe_provider import from_minor_units

__all__ = [
    "CardInput",
    "InvalidWebhook",
    "PaymentDeclined",
    "PaymentUnavailable",
    "handle_stripe_webhook",
    "payments_for_order",
    "refund_payment",
    "retry_voids",
    "start_payment",
    "validate_card",
    "void_pending_payments",
]

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")

DECLINE_MESSAGES: dict[str, str] = {
    "card_declined": "Your card was declined. Please use another card or contact your bank.",
    "insufficient_funds": "Your card has insufficient funds. Please use another card.",
    "expired_card": "Your card has expired. Please check the expiry date or use another card.",
    "incorrect_cvc": "The security code (CVC) is incorrect. Please check it and try again.",
}
GENERIC_DECLINE = "Your payment was declined. Please use another card or contact your bank."

SETTLED = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
# Payments that have taken no money yet and may still take it (a decline only where the provider keeps it open).
UNSETTLED = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.FAILED)


class PaymentDeclined(DomainError):
    """The provider refused the card; `code` is its decline code and the message says what the shopper can do."""

    status = 402
    code = "card_declined"


class PaymentUnavailable(DomainError):
    """The provider could not be reached; the same request (same idempotency key) can safely be retried."""

    status = 503
    code = "payment_unavailable"


class InvalidWebhook(DomainError):
    status = 400
    code = "invalid_signature"


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def declined(code: str) -> PaymentDeclined:
    return PaymentDeclined(DECLINE_MESSAGES.get(code, GENERIC_DECLINE), code=code or "card_declined")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def validate_card(card: CardInput) -> CardInput:
    """The card as the provider should see it (digits only, four-digit year), or ValidationFailed naming each field."""
    digits = re.sub(r"[\s-]", "", card.number)
    year = card.exp_year + 2000 if 0 <= card.exp_year < 100 else card.exp_year
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[0-9]{12,19}", digits) or not luhn_valid(digits):
        errors["number"] = ["This card number is not valid. Please check it and try again."]
    if not 1 <= card.exp_month <= 12:
        errors["exp_month"] = ["Enter the expiry month as a number from 1 to 12."]
    if not 2000 <= year <= 2100:
        errors["exp_year"] = ["Enter the expiry year as printed on the card."]
    if not re.fullmatch(r"[0-9]{3,4}", card.cvc.strip()):
        errors["cvc"] = ["Enter the 3 or 4 digit security code from your card."]
    if errors:
        raise ValidationFailed("Please check your card details.", fields=errors)
    return replace(card, number=digits, exp_year=year, cvc=card.cvc.strip())


def start_payment(order: Order, *, card: CardInput | None, idempotency_key: str) -> Payment:
    """Ask the configured provider for the order's total; the same idempotency key always means the same payment.

    The test provider settles at once: the payment succeeds, or its failure is recorded and PaymentDeclined raised.
    Stripe answers `requires_action` with the client secret that Stripe.js needs; its webhooks settle it later.
    """
    key = idempotency_key.strip()
    if not key or len(key) > 255:
        raise ValidationFailed(
            "A payment needs an idempotency key of 1 to 255 characters.",
            fields={"idempotency_key": ["Send 1 to 255 characters."]},
        )
    provider = get_provider()
    if provider.name == OfflineProvider.name:
        if card is None:
            raise ValidationFailed("Please enter your card details.", fields={"number": ["Enter your card number."]})
        card = validate_card(card)
    elif card is not None:
        raise ValidationFailed(
            "Card details are entered in the secure payment form, never sent to the store.",
            fields={"number": ["Use the secure payment form."]},
        )

    payment = _create_or_replay(order, provider=provider.name, key=key)
    if payment.status == PaymentStatus.FAILED:
        raise declined(payment.failure_code)
    if payment.status != PaymentStatus.PENDING:
        return payment
    # A pending payment is new, or an earlier attempt did not reach the provider: the key makes retrying safe.
    request = ChargeRequest(
        amount=payment.amount,
        currency=payment.currency,
        idempotency_key=key,
        order_number=order.number,
        payment_id=payment.pk,
        card=card,
    )
    try:
        outcome = provider.charge(request)
    except ProviderUnavailable as exc:
        logger.warning("Payment %s: provider %s unavailable: %s", payment.pk, provider.name, exc)
        raise PaymentUnavailable("Payments are unavailable right now. Please try again in a minute.") from exc
    payment = _settle(payment, outcome)
    if payment.status == PaymentStatus.FAILED:
        raise declined(payment.failure_code)
    return payment


def _create_or_replay(order: Order, *, provider: str, key: str) -> Payment:
    if order.status != OrderStatus.PENDING_PAYMENT:
        existing = Payment.objects.filter(idempotency_key=key, order=order).first()
        if existing is not None:
            return existing
        raise Conflict("This order is not awaiting payment.", code="order_not_payable")
    amount = money(order.total)
    if amount <= 0:
        raise ValidationFailed("There is nothing to pay for this order.", fields={"total": ["Must be above zero."]})
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                order=order,
                provider=provider,
                amount=amount,
                currency=order.currency,
                idempotency_key=key,
            )
            if Payment.objects.filter(order=order, status__in=SETTLED).exists():
                raise Conflict("This order is already paid.", code="already_paid")
            PaymentEvent.objects.create(
                payment=payment,
                kind=PaymentEventKind.CREATED,
                amount=amount,
                data={"provider": provider, "order_number": order.number},
            )
    except IntegrityError:
        # The key is taken: a retry of an earlier request (perhaps running concurrently) for this payment.
        existing = Payment.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        if existing.order_id != order.pk:
            raise Conflict(
                "This idempotency key was already used for another order.", code="idempotency_key_reused"
            ) from None
        return existing
    return payment


def _settle(payment: Payment, outcome: ChargeOutcome) -> Payment:
    """Record the provider's answer once; a concurrent retry that lost the race reads the winner's record."""
    changes: dict[str, Any] = {
        "status": outcome.status,
        "provider_reference": outcome.reference,
        "failure_code": outcome.failure_code,
        "failure_message": outcome.failure_message[:500],
        "client_secret": outcome.client_secret,
        "updated_at": timezone.now(),
    }
    # No savepoint inside a caller's transaction: nothing here is caught, so a failure rolls everything back anyway.
    with transaction.atomic(savepoint=False):
        won = Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(**changes)
        if not won:
            return Payment.objects.get(pk=payment.pk)
        data = {**outcome.data, "reference": outcome.reference}
        if outcome.failure_code:
            data |= {"failure_code": outcome.failure_code, "failure_message": outcome.failure_message}
        PaymentEvent.objects.create(
            payment=payment,
            kind=outcome.status,
            amount=payment.amount if outcome.status == PaymentStatus.SUCCEEDED else None,
            data=data,
        )
    for field, value in changes.items():
        setattr(payment, field, value)
    _publish_status(payment)
    return payment


def _publish_status(payment: Payment) -> None:
    if payment.status == PaymentStatus.SUCCEEDED:
        events.publish(events.PaymentSucceeded(payment_id=payment.pk, order_id=payment.order_id))
    elif payment.status == PaymentStatus.FAILED:
        events.publish(
            events.PaymentFailed(payment_id=payment.pk, order_id=payment.order_id, reason=payment.failure_code)
        )


def refund_payment(payment: Payment, amount: Decimal | None = None, *, actor: User | None, reason: str) -> Payment:
    """Give back `amount` (everything still refundable when None), never more than was captured minus refunds."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        refundable = locked.refundable
        if refundable <= 0:
            raise Conflict("This payment has nothing left to refund.", code="not_refundable")
        amount = refundable if amount is None else money(amount)
        if amount <= 0:
            raise ValidationFailed("Enter a refund amount above zero.", fields={"amount": ["Must be above zero."]})
        if amount > refundable:
            message = f"At most {refundable} {locked.currency} can be refunded."
            raise ValidationFailed(message, fields={"amount": [message]})
        number = locked.events.filter(kind=PaymentEventKind.REFUNDED).count() + 1
        try:
            outcome = get_provider(locked.provider).refund(
                reference=locked.provider_reference,
                amount=amount,
                currency=locked.currency,
                idempotency_key=f"{locked.idempotency_key}:refund:{number}",
            )
        except ProviderUnavailable as exc:
            logger.warning("Refund of payment %s: provider unavailable: %s", locked.pk, exc)
            raise PaymentUnavailable("The refund could not be sent right now. Please try again in a minute.") from exc
        data = {**outcome.data, "reference": outcome.reference, "reason": reason}
        _record_refund(locked, amount, data | {"actor_id": actor.pk if actor else None})
    return locked


def _record_refund(payment: Payment, amount: Decimal, data: dict[str, Any]) -> None:
    """Append a refund to the ledger; the payment's refunded total and status are derived from the ledger."""
    PaymentEvent.objects.create(payment=payment, kind=PaymentEventKind.REFUNDED, amount=amount, data=data)
    refunded = payment.events.filter(kind=PaymentEventKind.REFUNDED).aggregate(total=Sum("amount"))["total"]
    payment.amount_refunded = money(refunded or 0)
    payment.status = (
        PaymentStatus.REFUNDED if payment.amount_refunded >= payment.amount else PaymentStatus.PARTIALLY_REFUNDED
    )
    payment.save(update_fields=["amount_refunded", "status", "updated_at"])
    events.publish(events.PaymentRefunded(payment_id=payment.pk, order_id=payment.order_id, amount=str(amount)))


def void_pending_payments(order: Order, *, reason: str) -> list[Payment]:
    """Cancel at the provider each payment of `order` that has taken no money, so nobody can pay for an order that
    is gone; returns those payments as they are now.

    Called by the transaction that cancels the order, which must complete whatever the provider says: an unreachable
    provider leaves a `cancel_failed` event (and `retry_voids` tries again later), and a payment the shopper
    completed meanwhile also leaves one, its money then refunded by the provider's success webhook
    (`_refund_if_unwanted`). A voided payment becomes `canceled` with a `canceled` event.
    """
    voided: list[Payment] = []
    # No savepoint: no database error below is caught, and the caller's transaction holds the order's lock anyway.
    with transaction.atomic(savepoint=False):
        for payment in Payment.objects.select_for_update().filter(order=order, status__in=UNSETTLED).order_by("pk"):
            provider = get_provider(payment.provider)
            if payment.status == PaymentStatus.FAILED and not provider.declines_stay_open:
                continue
            voided.append(_void(payment, provider, reason=reason))
    return voided


def _void(payment: Payment, provider: PaymentProvider, *, reason: str) -> Payment:
    """Void one locked payment at its provider and record the outcome in its ledger."""
    # A fresh key per attempt: Stripe replays a saved error for a reused key, so a retry after an outage needs its
    # own; cancelling an intent cancelled by an earlier attempt is answered as already canceled, which is fine.
    attempt = payment.events.filter(kind=PaymentEventKind.CANCEL_FAILED).count() + 1
    key = f"{payment.idempotency_key}:cancel:{attempt}"
    data: dict[str, Any] = {"reason": reason, "reference": payment.provider_reference, "idempotency_key": key}
    if not payment.provider_reference:
        # The provider never answered the charge, so the shopper never got what it takes to pay (Stripe's client
        # secret); recording the void also stops a retried start_payment from charging for the gone order.
        outcome = CancelOutcome(canceled=True, provider_status="", data={"note": "never reached the provider"})
    else:
        try:
            outcome = provider.cancel(reference=payment.provider_reference, idempotency_key=key)
        except ProviderUnavailable as exc:
            logger.warning("Void of payment %s at %s failed: %s", payment.pk, payment.provider, exc)
            PaymentEvent.objects.create(
                payment=payment, kind=PaymentEventKind.CANCEL_FAILED, data=data | {"error": str(exc)[:500]}
            )
            return payment
    data |= outcome.data
    if not outcome.canceled:
        # The shopper paid (or is paying) at the last moment: the provider's webhook settles the payment and, the
        # order being cancelled, refunds it. Nothing to retry, so it is marked as too late.
        logger.info("Void of payment %s too late: %s", payment.pk, outcome.provider_status)
        PaymentEvent.objects.create(
            payment=payment,
            kind=PaymentEventKind.CANCEL_FAILED,
            data=data | {"provider_status": outcome.provider_status, "too_late": True},
        )
        return payment
    payment.status = PaymentStatus.CANCELED
    payment.save(update_fields=["status", "updated_at"])
    PaymentEvent.objects.create(payment=payment, kind=PaymentEventKind.CANCELED, data=data)
    return payment


def retry_voids(limit: int = 100) -> int:
    """Void again the unsettled payments of cancelled orders whose last void failed because the provider could not
    be reached; returns how many are voided now. Safe to run twice or on several workers: each payment is
    re-checked under its lock."""
    failures = (
        PaymentEvent.objects.filter(
            kind=PaymentEventKind.CANCEL_FAILED,
            payment__order__status=OrderStatus.CANCELLED,
            payment__status__in=UNSETTLED,
        )
        .order_by("payment_id", "created_at", "pk")
        .values_list("payment_id", "data")
    )
    latest = dict(failures)  # the last failure of each payment wins
    # A void that came too late waits for the provider's webhook (success: refunded; failure: voided then).
    due = sorted(payment_id for payment_id, data in latest.items() if not data.get("too_late"))[:limit]
    voided = 0
    for payment_id in due:
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            provider = get_provider(payment.provider)
            if payment.status not in UNSETTLED or (
                payment.status == PaymentStatus.FAILED and not provider.declines_stay_open
            ):
                continue
            voided += _void(payment, provider, reason="retry after a failed void").status == PaymentStatus.CANCELED
    return voided


def payments_for_order(order: Order) -> list[Payment]:
    return list(Payment.objects.filter(order=order).order_by("created_at", "id"))


def handle_stripe_webhook(payload: bytes, signature: str) -> None:
    """Apply one verified Stripe event; an event id already recorded, or an unknown type or payment, changes nothing."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook("The webhook signature could not be verified.") from exc
    body: dict[str, Any] = event.to_dict()
    handler = _WEBHOOK_HANDLERS.get(body.get("type", ""))
    if handler is None:
        return
    obj: dict[str, Any] = body["data"]["object"]
    reference = obj.get("payment_intent") if body["type"].startswith("charge.") else obj.get("id")
    try:
        with transaction.atomic():
            payment = (
                Payment.objects.select_for_update()
                .filter(provider=StripeProvider.name, provider_reference=reference or "")
                .first()
            )
            if payment is None:
                logger.info("Stripe event %s for unknown payment intent %s ignored", body["id"], reference)
                return
            if PaymentEvent.objects.filter(provider_event_id=body["id"]).exists():
                return
            PaymentEvent.objects.create(
                payment=payment,
                kind=PaymentEventKind.WEBHOOK,
                provider_event_id=body["id"],
                data={"type": body["type"], "object_id": obj.get("id")},
            )
            handler(payment, obj)
    except IntegrityError:
        # The same event delivered twice at once: the other delivery recorded it.
        if not PaymentEvent.objects.filter(provider_event_id=body["id"]).exists():
            raise


def _stripe_succeeded(payment: Payment, intent: dict[str, Any]) -> None:
    # Stripe's word that money arrived outranks a void recorded here: the ledger takes it, and the refund follows.
    if payment.status not in (*UNSETTLED, PaymentStatus.CANCELED):
        return
    received = from_minor_units(int(intent.get("amount_received") or 0), payment.currency)
    payment.status = PaymentStatus.SUCCEEDED
    payment.failure_code = payment.failure_message = ""
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
    PaymentEvent.objects.create(
        payment=payment,
        kind=PaymentEventKind.SUCCEEDED,
        amount=received,
        data={"reference": intent.get("id"), "payment_method": intent.get("payment_method")},
    )
    _publish_status(payment)
    _refund_if_unwanted(payment)


def _refund_if_unwanted(payment: Payment) -> None:
    """Money that arrives for an order cancelled meanwhile, or paid already by another payment, goes straight back."""
    if payment.order.status == OrderStatus.CANCELLED:
        reason = "The order was cancelled before the payment completed."
    elif Payment.objects.filter(order_id=payment.order_id, status__in=SETTLED).exclude(pk=payment.pk).exists():
        reason = "The order was already paid by another payment."
    else:
        return
    refund_payment(payment, actor=None, reason=reason)


def _stripe_failed(payment: Payment, intent: dict[str, Any]) -> None:
    if payment.status not in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.FAILED):
        return
    error = intent.get("last_payment_error") or {}
    payment.status = PaymentStatus.FAILED
    payment.failure_code = str(error.get("decline_code") or error.get("code") or "card_declined")[:64]
    payment.failure_message = str(error.get("message") or "")[:500]
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
    PaymentEvent.objects.create(
        payment=payment,
        kind=PaymentEventKind.FAILED,
        data={
            "reference": intent.get("id"),
            "failure_code": payment.failure_code,
            "failure_message": payment.failure_message,
        },
    )
    _publish_status(payment)
    if payment.order.status == OrderStatus.CANCELLED:
        # A payment still processing when its order was cancelled could not be voided then; declined now, it is
        # open for another card again, so it is voided now.
        _void(payment, get_provider(payment.provider), reason="The order was cancelled before the payment completed.")


def _stripe_charge_refunded(payment: Payment, charge: dict[str, Any]) -> None:
    """Stripe reports the charge's cumulative refunds: only what the ledger lacks (a refund made at Stripe) is new."""
    if payment.status not in SETTLED:
        return
    at_stripe = from_minor_units(int(charge.get("amount_refunded") or 0), payment.currency)
    missing = min(at_stripe, payment.amount) - payment.amount_refunded
    if missing > 0:
        _record_refund(payment, missing, {"reference": charge.get("id"), "reason": "Refunded at Stripe"})


def _stripe_canceled(payment: Payment, intent: dict[str, Any]) -> None:
    """An intent cancelled at Stripe (by our void, whose event is already there, in the dashboard, or by Stripe)."""
    if payment.status not in UNSETTLED:
        return
    payment.status = PaymentStatus.CANCELED
    payment.save(update_fields=["status", "updated_at"])
    PaymentEvent.objects.create(
        payment=payment,
        kind=PaymentEventKind.CANCELED,
        data={
            "reference": intent.get("id"),
            "cancellation_reason": intent.get("cancellation_reason"),
            "source": "webhook",
        },
    )


_WEBHOOK_HANDLERS: dict[str, Callable[[Payment, dict[str, Any]], None]] = {
    "payment_intent.succeeded": _stripe_succeeded,
    "payment_intent.payment_failed": _stripe_failed,
    "payment_intent.canceled": _stripe_canceled,
    "charge.refunded": _stripe_charge_refunded,
}
