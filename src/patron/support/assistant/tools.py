"""What the assistant can do, each through the same core service a button on the store calls, as the shopper.

Every tool returns a `Reply`: the text for the shopper, the facts it rests on (for optional generative phrasing),
the actions it proposed or took, quick replies, cited articles and found products. Tools never decide who may do
what: the core services do, with the shopper's own account (guests are limited to reading their order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from patron.accounts.models import User
from patron.catalog.services import ProductFilters, search_products
from patron.errors import DomainError
from patron.orders import placement
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus, TrackingEvent
from patron.payments.models import PaymentStatus
from patron.payments.services import DECLINE_MESSAGES, GENERIC_DECLINE
from patron.storefront.templatetags.storefront import money, stock_text
from patron.support.assistant import knowledge
from patron.support.assistant.nlu import normalize

S = OrderStatus
HUMAN = "Talk to a person"
YES = "Yes"
NO = "No"


@dataclass(frozen=True)
class QuickReply:
    label: str
    value: str


@dataclass
class Reply:
    text: str
    facts: list[str] = field(default_factory=list)
    quick_replies: list[QuickReply] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)
    citations: list[dict[str, str]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    handoff: bool = False

    def data(self) -> dict[str, Any]:
        """What a message stores and the API returns beside the text."""
        return {
            "quick_replies": [{"label": reply.label, "value": reply.value} for reply in self.quick_replies],
            "actions": self.actions,
            "citations": self.citations,
            "products": self.products,
            "handoff": self.handoff,
        }


def human_button() -> QuickReply:
    return QuickReply(HUMAN, "I want to talk to a person")


def cancel_button() -> QuickReply:
    return QuickReply("Cancel this order", "Cancel my order")


def confirm_buttons(yes: str, no: str) -> list[QuickReply]:
    return [QuickReply(yes, YES), QuickReply(no, NO)]


def _date(value: Any) -> str:
    return f"{value:%d %B %Y}".lstrip("0")


def order_link(order: Order, user: User | None) -> str:
    """The order page the shopper can open: their account's, or the signed guest link."""
    if user is not None and user.is_authenticated and order.user_id == user.pk:
        return reverse("orders:detail", args=[order.number])
    token = placement.order_access_token(order)
    return f"{reverse('storefront:order_page', args=[order.number])}?{urlencode({'token': token})}"


def _latest_step(order: Order) -> TrackingEvent | None:
    steps = [step for shipment in order.shipments.all() for step in shipment.events.all()]
    return max(steps, key=lambda step: (step.at, step.pk)) if steps else None


def _refunded(order: Order) -> Decimal:
    return sum((payment.amount_refunded for payment in order.payments.all()), Decimal("0.00"))


# --- Orders ----------------------------------------------------------------------------------------


def track(order: Order, user: User | None) -> Reply:
    """The order's live status and its parcel's latest tracking step (order loaded by get_order)."""
    if order.status == S.PENDING_PAYMENT:
        return payment_help(order, user)
    status = S(order.status).label.lower()
    facts = [f"Order {order.number} status: {status}", f"placed on {_date(order.placed_at)}"]
    text = f"Order {order.number} is {status}."
    shipments = list(order.shipments.all())
    step = _latest_step(order)
    if shipments:
        parcel = shipments[-1]
        text += f" It went with {parcel.carrier}, tracking number {parcel.tracking_number}."
        facts.append(f"carrier {parcel.carrier}, tracking number {parcel.tracking_number}")
    if step is not None:
        where = f" in {step.location}" if step.location else ""
        text += f" Latest update: {step.get_status_display()}{where} on {_date(step.at)}."
        facts.append(f"latest tracking: {step.get_status_display()}{where} on {_date(step.at)}")
    elif order.status in (S.PAID, S.PROCESSING):
        text += " It is being prepared and you'll get an e-mail with the tracking number as soon as it ships."
    link = order_link(order, user)
    text += f" Follow it here: {link}"
    quick = (
        [QuickReply("Cancel this order", "Cancel my order")] if orders.can_transition(order.status, S.CANCELLED) else []
    )
    return Reply(
        text,
        facts=facts,
        quick_replies=quick,
        actions=[{"name": "track_order", "status": "done", "order": order.number}],
    )


def guests_need_people(order: Order, what: str) -> Reply:
    return Reply(
        f"To {what} order {order.number} you need to be signed in to the account that placed it. If you checked out "
        "as a guest, a person from our team can do it for you.",
        quick_replies=[human_button()],
    )


def propose_cancel(order: Order, user: User | None) -> tuple[Reply, dict[str, Any] | None]:
    if user is None or not user.is_authenticated:
        return guests_need_people(order, "cancel"), None
    if not orders.can_transition(order.status, S.CANCELLED):
        status = S(order.status).label.lower()
        text = f"Order {order.number} is {status}, so it can no longer be cancelled."
        if order.status in (S.SHIPPED, S.DELIVERED):
            text += f" Once it's delivered you can return it within {settings.ORDER_RETURN_WINDOW_DAYS} days."
        return Reply(text, facts=[f"order {order.number} is {status}"], quick_replies=[human_button()]), None
    paid = any(payment.refundable > 0 for payment in order.payments.all())
    refund = f" You'll get {money(order.total)} back to your card." if paid else ""
    text = f"Do you want me to cancel order {order.number} ({money(order.total)})?{refund}"
    pending = {"action": "cancel_order", "order": order.number}
    return (
        Reply(
            text,
            facts=[f"order {order.number} can be cancelled, total {money(order.total)}"],
            quick_replies=confirm_buttons("Yes, cancel it", "No, keep it"),
            actions=[{"name": "cancel_order", "status": "proposed", "order": order.number}],
        ),
        pending,
    )


def cancel(order: Order, user: User) -> Reply:
    cancelled = orders.cancel_order(order, actor=user, note="cancelled in the support chat")
    cancelled = orders.get_order(user, cancelled.pk)
    refunded = _refunded(cancelled)
    text = f"Done: order {cancelled.number} is cancelled."
    if refunded > 0:
        text += f" {money(refunded)} is refunded to your card; banks usually show it within 5 to 10 business days."
    return Reply(
        text,
        facts=[f"order {cancelled.number} cancelled", f"refunded {money(refunded)}"],
        actions=[{"name": "cancel_order", "status": "done", "order": cancelled.number}],
    )


ADDRESS_EXAMPLE = "Ada King, 12 Ockham Park, Ripley, GU23 6NG, GB"


def ask_address(order: Order, user: User | None) -> Reply | None:
    """None when the address can be changed; else why not."""
    if user is None or not user.is_authenticated:
        return guests_need_people(order, "change the address of")
    if order.status not in orders.ADDRESS_CHANGEABLE_STATUSES:
        status = S(order.status).label.lower()
        return Reply(
            f"Order {order.number} is already {status}, so its address can't be changed any more. The carrier may "
            "be able to redirect it; a person from our team can help.",
            facts=[f"order {order.number} is {status}"],
            quick_replies=[human_button()],
        )
    return None


def parse_address(text: str) -> dict[str, str] | None:
    """ "Full name, street, city, postal code, country" (a second address line may follow the street)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) not in (5, 6) or len(parts[-1]) != 2:
        return None
    line2 = parts[2] if len(parts) == 6 else ""
    full_name, line1, city, postal_code, country = parts[0], parts[1], parts[-3], parts[-2], parts[-1]
    return {
        "full_name": full_name,
        "line1": line1,
        "line2": line2,
        "city": city,
        "postal_code": postal_code,
        "country": country.upper(),
        "phone": "",
        "region": "",
    }


def describe_address(address: dict[str, str]) -> str:
    keys = ("full_name", "line1", "line2", "city", "postal_code", "country")
    return ", ".join(address[key] for key in keys if address.get(key))


def propose_address(order: Order, address: dict[str, str]) -> tuple[Reply, dict[str, Any]]:
    text = f"Send order {order.number} to {describe_address(address)}?"
    pending = {"action": "change_address", "order": order.number, "address": address}
    return (
        Reply(
            text,
            quick_replies=confirm_buttons("Yes, change it", "No"),
            actions=[{"name": "change_address", "status": "proposed", "order": order.number}],
        ),
        pending,
    )


def change_address(order: Order, user: User, address: dict[str, str]) -> Reply:
    changed = orders.change_shipping_address(order, address, actor=user)
    return Reply(
        f"Done: order {changed.number} will go to {describe_address(changed.shipping_address)}.",
        facts=[f"order {changed.number} shipping address changed"],
        actions=[{"name": "change_address", "status": "done", "order": changed.number}],
    )


def returnable(order: Order, user: User | None) -> Reply | None:
    """None when the order can be returned now; else why not."""
    if user is None or not user.is_authenticated:
        return guests_need_people(order, "return items of")
    status = S(order.status).label.lower()
    days = settings.ORDER_RETURN_WINDOW_DAYS
    if order.status == S.SHIPPED:
        return Reply(
            f"Order {order.number} is on its way. Once it's delivered you can return it within {days} days.",
            facts=[f"order {order.number} is shipped"],
        )
    if order.status != S.DELIVERED:
        quick = (
            [QuickReply("Cancel this order", "Cancel my order")]
            if orders.can_transition(order.status, S.CANCELLED)
            else []
        )
        return Reply(
            f"Order {order.number} is {status}, so there is nothing to return."
            + (" It hasn't shipped yet, so you can cancel it instead." if quick else ""),
            facts=[f"order {order.number} is {status}"],
            quick_replies=quick,
        )
    deadline = orders.return_deadline(order)
    if deadline is not None and timezone.now() > deadline:
        return Reply(
            f"The {days}-day return window of order {order.number} closed on {_date(deadline)}.",
            facts=[f"return window closed on {_date(deadline)}"],
            quick_replies=[human_button()],
        )
    if not orders.returnable_quantities(order):
        return Reply(f"Every item of order {order.number} is already in a return.", quick_replies=[human_button()])
    return None


def choose_items(order: Order) -> Reply:
    left = orders.returnable_quantities(order)
    lines = [line for line in order.lines.all() if line.pk in left]
    quick = [QuickReply(f"{line.product_name}", f"item {position}") for position, line in enumerate(lines, 1)]
    quick.append(QuickReply("All items", "all items"))
    return Reply(f"Which item of order {order.number} do you want to return?", quick_replies=quick)


def chosen_lines(order: Order, text: str) -> dict[int, int] | None:
    """The lines picked by "item N" or "all items" (or by naming the product), with every unit not yet returned."""
    left = orders.returnable_quantities(order)
    lines = [line for line in order.lines.all() if line.pk in left]
    lowered = text.lower()
    if "all" in lowered.split() or len(lines) == 1:
        return {line.pk: left[line.pk] for line in lines}
    picked = re.search(r"\bitem\s+(\d+)\b", lowered)
    if picked and 1 <= int(picked.group(1)) <= len(lines):
        line = lines[int(picked.group(1)) - 1]
        return {line.pk: left[line.pk]}
    named = [line for line in lines if line.product_name.lower() in lowered]
    return {line.pk: left[line.pk] for line in named} or None


def propose_return(order: Order, lines: dict[int, int]) -> tuple[Reply, dict[str, Any]]:
    names = ", ".join(f"{units} x {line.product_name}" for line in order.lines.all() if (units := lines.get(line.pk)))
    pending = {"action": "start_return", "order": order.number, "lines": {str(k): v for k, v in lines.items()}}
    return (
        Reply(
            f"Start a return of {names} from order {order.number}?",
            quick_replies=confirm_buttons("Yes, start the return", "No"),
            actions=[{"name": "start_return", "status": "proposed", "order": order.number}],
        ),
        pending,
    )


def start_return(order: Order, user: User, lines: dict[int, int]) -> Reply:
    request = orders.start_return(order, actor=user, lines=lines, reason="requested in the support chat")
    return Reply(
        f"Your return {request.pk} for order {order.number} is registered. Pack the items in their original "
        "packaging; we'll e-mail the return label, and refund you as soon as the parcel reaches us.",
        facts=[f"return {request.pk} registered for order {order.number}"],
        actions=[{"name": "start_return", "status": "done", "order": order.number, "return": str(request.pk)}],
    )


def refund_status(order: Order) -> Reply:
    refunded = _refunded(order)
    facts = [f"order {order.number} status: {S(order.status).label.lower()}", f"refunded so far {money(refunded)}"]
    if refunded > 0:
        text = (
            f"{money(refunded)} has been refunded for order {order.number} to the card it was paid with. Banks "
            "usually show a refund within 5 to 10 business days."
        )
    else:
        text = f"No refund has been issued for order {order.number} so far."
        requests = list(order.returns.all())
        if requests:
            latest = requests[0]
            text += f" Your return from {_date(latest.created_at)} is {latest.get_status_display().lower()}."
            facts.append(f"return {latest.pk} is {latest.status}")
    return Reply(text, facts=facts, actions=[{"name": "refund_status", "status": "done", "order": order.number}])


def refund(order: Order, user: User | None) -> tuple[Reply, dict[str, Any] | None]:
    """Getting money back: cancel if it hasn't shipped, return if delivered, else the refund's status."""
    if order.status in (S.CANCELLED, S.REFUNDED) or _refunded(order) > 0:
        return refund_status(order), None
    if orders.can_transition(order.status, S.CANCELLED) and order.status != S.PENDING_PAYMENT:
        reply, pending = propose_cancel(order, user)
        reply.text = f"Order {order.number} hasn't shipped yet, so cancelling it refunds you in full. " + reply.text
        return reply, pending
    if order.status == S.DELIVERED:
        return (
            Reply(
                f"Order {order.number} was delivered. To get your money back, start a return within "
                f"{settings.ORDER_RETURN_WINDOW_DAYS} days of delivery.",
                quick_replies=[QuickReply("Start a return", "I want to return an item")],
            ),
            None,
        )
    return refund_status(order), None


def invoice(order: Order, user: User | None) -> Reply:
    if order.status not in orders.INVOICED_STATUSES:
        return Reply(f"Order {order.number} isn't paid yet, so it has no invoice.", quick_replies=[human_button()])
    sent = orders.resend_invoice(order, actor=user)
    name, _, domain = order.email.partition("@")
    masked = f"{name[:1]}•••@{domain}"
    if sent:
        text = f"I've sent the invoice for order {order.number} to {masked}."
    else:
        text = f"The invoice for order {order.number} went to {masked} within the hour; please check your spam folder."
    return Reply(
        text,
        facts=[text],
        actions=[{"name": "resend_invoice", "status": "done" if sent else "skipped", "order": order.number}],
    )


def payment_help(order: Order, user: User | None) -> Reply:
    payment = placement.latest_payment(order)
    if order.status != S.PENDING_PAYMENT:
        return Reply(
            f"The payment for order {order.number} went through; the order is {S(order.status).label.lower()}.",
            facts=[f"order {order.number} is paid"],
        )
    token = placement.order_access_token(order)
    retry = f"{reverse('storefront:checkout_pay', args=[order.number])}?{urlencode({'token': token})}"
    if payment is not None and payment.status == PaymentStatus.FAILED:
        reason = DECLINE_MESSAGES.get(payment.failure_code, GENERIC_DECLINE)
        text = f"The payment for order {order.number} was declined: {reason} You can retry here: {retry}"
        facts = [f"payment declined, code {payment.failure_code or 'card_declined'}", reason]
    else:
        text = f"Order {order.number} is still waiting for its payment. You can pay it here: {retry}"
        facts = [f"order {order.number} awaiting payment"]
    return Reply(
        text,
        facts=facts,
        quick_replies=[human_button()],
        actions=[{"name": "payment_retry_link", "status": "done", "order": order.number, "url": retry}],
    )


# --- Catalog and knowledge -------------------------------------------------------------------------

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "you",
        "your",
        "do",
        "does",
        "did",
        "have",
        "has",
        "got",
        "any",
        "some",
        "is",
        "are",
        "was",
        "be",
        "can",
        "could",
        "would",
        "will",
        "please",
        "looking",
        "look",
        "for",
        "find",
        "show",
        "want",
        "need",
        "like",
        "to",
        "of",
        "in",
        "on",
        "at",
        "with",
        "under",
        "below",
        "less",
        "than",
        "cheaper",
        "max",
        "maximum",
        "about",
        "sell",
        "carry",
        "stock",
        "available",
        "there",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "one",
        "ones",
        "recommend",
        "something",
        "buy",
        "order",
        "get",
        "how",
        "much",
        "cost",
        "price",
        "hi",
        "hello",
        "hey",
        "and",
        "or",
        "up",
        "amount",
        "number",
        "email",
    ]
)


def product_query(text: str) -> str:
    words = [word for word in normalize(text).replace("?", " ").replace("!", " ").split() if word not in STOPWORDS]
    return " ".join(words[:6])


def find_products(text: str, max_price: Decimal | None) -> Reply:
    query = product_query(text)
    if not query:
        return Reply("What are you looking for? Tell me the item, and a budget if you have one.")
    try:
        page = search_products(ProductFilters(q=query, max_price=max_price, page_size=3))
    except DomainError:
        page = None
    search_url = f"{reverse('storefront:search')}?{urlencode({'q': query})}"
    budget = f" under {money(max_price)}" if max_price is not None else ""
    if page is None or not page.products:
        return Reply(
            f"I couldn't find \u201c{query}\u201d{budget} in the shop. You can browse similar items here: {search_url}",
            facts=[f"no products match {query}{budget}"],
        )
    products: list[dict[str, Any]] = [
        {
            "name": product.name,
            "price": str(product.min_price),
            "url": reverse("storefront:product", args=[product.slug]),
            "stock": stock_text(product.total_stock),
            "in_stock": product.total_stock > 0,
        }
        for product in page.products
    ]
    described = [
        f"{product.name}: {money(product.min_price)}, {stock_text(product.total_stock).lower()}"
        for product in page.products
    ]
    return Reply(
        f"Here's what I found{budget}: {'; '.join(described)}. More results: {search_url}",
        facts=described,
        products=products,
        actions=[{"name": "find_products", "status": "done", "query": query}],
    )


def answer_from_articles(question: str) -> Reply | None:
    """The best passage of the knowledge base, citing its article; None when nothing is relevant enough."""
    hits = knowledge.search(question, limit=1)
    if not hits:
        return None
    passage = hits[0].passage
    url = reverse("support:article", args=[passage.slug])
    return Reply(
        f"{passage.text} (From our article \u201c{passage.title}\u201d: {url})",
        facts=[f"article \u201c{passage.title}\u201d: {passage.text}"],
        citations=[{"title": passage.title, "url": url}],
    )
