"""One turn of the assistant: understand the message, fill the slots it needs, act through a tool, or hand over.

The conversation's `state` carries what a turn leaves for the next: the order being discussed (for a guest, only
once its number and e-mail matched), the slot the assistant asked for, the action awaiting the shopper's "yes",
and how many messages in a row it failed to understand. Actions that change an order (cancel, new address,
return) are only proposed; they run when the shopper confirms in their next message.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from patron.accounts.models import User
from patron.errors import DomainError, NotFound
from patron.orders import services as orders
from patron.orders.models import Order, OrderStatus
from patron.support import services
from patron.support.assistant import tools
from patron.support.assistant.intents import KNOWLEDGE, MESSAGE, OUT_OF_SCOPE, Intent, expand, load_intents
from patron.support.assistant.nlu import Entities, Prediction, classifier, extract_entities, is_negative
from patron.support.assistant.tools import QuickReply, Reply, human_button
from patron.support.models import Conversation, Priority

MAX_FAILURES = 3
RECENT_ORDER_CHOICES = 3
YES = re.compile(r"^\s*(yes|yeah|yep|yup|sure|ok|okay|confirm|confirmed|please do|do it|go ahead|correct)\b", re.I)
NO = re.compile(r"^\s*(no|nope|nah|don'?t|do not|stop|keep it|never ?mind|not now)\b", re.I)

# Buttons offered when the assistant is unsure: the label and the words it sends.
INTENT_CHOICES: dict[str, tuple[str, str]] = {
    "track_order": ("Track an order", "Where is my order?"),
    "cancel_order": ("Cancel an order", "I want to cancel my order"),
    "change_order": ("Change an order", "I want to change my order"),
    "change_shipping_address": ("Change the address", "I want to change my shipping address"),
    "start_return": ("Return an item", "I want to return an item"),
    "get_refund": ("Get a refund", "I want a refund"),
    "track_refund": ("Refund status", "What is the status of my refund?"),
    "get_invoice": ("Get my invoice", "Send me my invoice"),
    "check_invoice": ("Get my invoice", "Send me my invoice"),
    "payment_issue": ("A payment problem", "My payment was declined"),
    "find_product": ("Find a product", "I'm looking for a product"),
    "place_order": ("Find a product", "I'm looking for a product"),
    "delivery_options": ("Shipping options", "What shipping options do you offer?"),
    "delivery_period": ("Delivery times", "How long does delivery take?"),
    "check_refund_policy": ("Returns policy", "What is your returns policy?"),
    "contact_human_agent": ("Talk to a person", "I want to talk to a person"),
}


@dataclass(frozen=True)
class Outcome:
    reply: Reply
    intent: str
    confidence: float | None


class Turn:
    def __init__(self, conversation: Conversation, user: User | None, text: str) -> None:
        self.conversation = conversation
        self.user = user if user is not None and user.is_authenticated else None
        self.text = text
        self.state: dict[str, Any] = dict(conversation.state or {})
        self.entities: Entities = extract_entities(text)

    def ask(self, slot: str, intent: str, reply: Reply) -> Reply:
        self.state["awaiting"] = {"slot": slot, "intent": intent}
        return reply


# --- Which order ------------------------------------------------------------------------------------


def _order_choices(turn: Turn, intro: str, intent: str) -> Reply | Order:
    recent = services.customer_orders(turn.conversation.contact, RECENT_ORDER_CHOICES)
    if len(recent) == 1 and not intro:
        return _load(turn, recent[0].number)
    quick = [QuickReply(f"{order.number} · {OrderStatus(order.status).label}", order.number) for order in recent]
    text = intro + (
        "Which order is it about?" if recent else "What's the order number? It's in your confirmation e-mail."
    )
    return turn.ask("order", intent, Reply(text.strip(), quick_replies=quick))


def _load(turn: Turn, number: str) -> Order:
    assert turn.user is not None
    order = services.order_for_customer(turn.user, number)
    turn.state["order"] = order.number
    services.link_order(turn.conversation, order)
    return order


def resolve_order(turn: Turn, intent: str) -> Reply | Order:
    """The order the shopper means, with its lines, shipments and payments, as they may see it; otherwise the
    question that finds it out."""
    mentioned = turn.entities.order_numbers[0] if turn.entities.order_numbers else ""
    number = mentioned or turn.state.get("order", "")
    if turn.user is not None:
        if not number:
            return _order_choices(turn, "", intent)
        try:
            return _load(turn, number)
        except NotFound:
            turn.state.pop("order", None)
            return _order_choices(turn, f"I can't find order {number} in your account. ", intent)
    if not number:
        return turn.ask(
            "order", intent, Reply("What's your order number? You'll find it in your order confirmation e-mail.")
        )
    email = turn.entities.emails[0] if turn.entities.emails else turn.state.get("email", "")
    if not email:
        turn.state["order"] = number
        return turn.ask("email", intent, Reply("Thanks. And the e-mail address you used for that order?"))
    try:
        order = services.order_for_guest(number, email)
    except NotFound:
        # Nothing about the order, not even whether the number exists.
        turn.state.pop("order", None)
        turn.state.pop("email", None)
        return turn.ask(
            "order",
            intent,
            Reply(
                "I couldn't find an order with that number and e-mail address. Please check both and send them again.",
                quick_replies=[human_button()],
            ),
        )
    turn.state["order"], turn.state["email"] = order.number, email
    services.link_order(turn.conversation, order)
    services.remember_email(turn.conversation.contact, email)
    return order


# --- Handlers ---------------------------------------------------------------------------------------


def _with_order(turn: Turn, intent: Intent, act: Any) -> Reply:
    found = resolve_order(turn, intent.name)
    if isinstance(found, Reply):
        return found
    return act(found)


def _propose(turn: Turn, proposal: tuple[Reply, dict[str, Any] | None]) -> Reply:
    reply, pending = proposal
    if pending is not None:
        turn.state["pending"] = pending
    return reply


def _cancel(turn: Turn, intent: Intent) -> Reply:
    return _with_order(turn, intent, lambda order: _propose(turn, tools.propose_cancel(order, turn.user)))


def _change_address(turn: Turn, intent: Intent) -> Reply:
    def act(order: Order) -> Reply:
        refusal = tools.ask_address(order, turn.user)
        if refusal is not None:
            return refusal
        return turn.ask(
            "address",
            intent.name,
            Reply(
                f"What's the new address for order {order.number}? Write it on one line: full name, street, city, "
                f"postal code, country code, e.g. \u201c{tools.ADDRESS_EXAMPLE}\u201d."
            ),
        )

    return _with_order(turn, intent, act)


def _return(turn: Turn, intent: Intent) -> Reply:
    def act(order: Order) -> Reply:
        refusal = tools.returnable(order, turn.user)
        if refusal is not None:
            return refusal
        lines = tools.chosen_lines(order, turn.text)
        if lines is None:
            return turn.ask("items", intent.name, tools.choose_items(order))
        return _propose(turn, tools.propose_return(order, lines))

    return _with_order(turn, intent, act)


def _payment(turn: Turn, intent: Intent) -> Reply:
    if turn.user is not None and not turn.entities.order_numbers and not turn.state.get("order"):
        waiting = (
            orders.list_orders(turn.user)
            .filter(user=turn.user, status=OrderStatus.PENDING_PAYMENT)
            .order_by("-placed_at")
            .first()
        )
        if waiting is not None:
            turn.state["order"] = waiting.number
    return _with_order(turn, intent, lambda order: tools.payment_help(order, turn.user))


def _change_order(turn: Turn, intent: Intent) -> Reply:
    def act(order: Order) -> Reply:
        quick = [human_button()]
        text = f"I can't change the items of order {order.number} once it's placed."
        if orders.can_transition(order.status, OrderStatus.CANCELLED):
            text += " It hasn't shipped yet, so I can cancel it and you can order again, or a person can help."
            quick.insert(0, tools.cancel_button())
        else:
            text += " A person from our team can look at what's possible."
        return Reply(text, quick_replies=quick)

    return _with_order(turn, intent, act)


def _products(turn: Turn, intent: Intent) -> Reply:
    reply = tools.find_products(turn.text, turn.entities.max_price)
    if not reply.products and not tools.product_query(turn.text):
        return turn.ask("product", intent.name, reply)
    return reply


def _knowledge(turn: Turn, intent: Intent) -> Reply:
    question = f"{intent.query}. {turn.text}" if intent.query else turn.text
    answer = tools.answer_from_articles(question)
    if answer is not None:
        return answer
    return Reply(
        "I don't have an answer to that in our help articles, and I'd rather not guess. A person from our team can "
        "answer you.",
        quick_replies=[human_button()],
    )


HANDLERS: dict[str, Any] = {
    "track_order": lambda turn, intent: _with_order(turn, intent, lambda order: tools.track(order, turn.user)),
    "cancel_order": _cancel,
    "change_address": _change_address,
    "start_return": _return,
    "refund": lambda turn, intent: _with_order(
        turn, intent, lambda order: _propose(turn, tools.refund(order, turn.user))
    ),
    "refund_status": lambda turn, intent: _with_order(turn, intent, tools.refund_status),
    "invoice": lambda turn, intent: _with_order(turn, intent, lambda order: tools.invoice(order, turn.user)),
    "payment_help": _payment,
    "change_order": _change_order,
    "find_products": _products,
    KNOWLEDGE: _knowledge,
}


# --- Hand-off --------------------------------------------------------------------------------------


def suggest_reply(conversation: Conversation, intent: str) -> str:
    """A first answer for the agent who picks the conversation up, from what the assistant knows."""
    name = (conversation.contact.name or "").split(" ")[0] or "there"
    text = f"Hi {name}, thanks for waiting. "
    order = conversation.order
    if order is not None:
        text += f"I'm looking at your order {order.number}, which is {OrderStatus(order.status).label.lower()}. "
    text += {
        "complaint": "I'm sorry about your experience. Could you tell me what went wrong, so I can put it right?",
        "cancel_order": "I can cancel it for you and refund the payment. Shall I go ahead?",
        "change_shipping_address": "Let me check with the carrier whether the parcel can still be redirected.",
        "start_return": "I'll arrange the return for you and send the label by e-mail.",
        "payment_issue": "Let me check the payment with you. Which card did you use?",
    }.get(intent, "How can I help?")
    return text


def hand_off(turn: Turn, intent: str, reason: str, priority: str = "") -> Reply:
    services.hand_off(
        turn.conversation, reason=reason, suggested_reply=suggest_reply(turn.conversation, intent), priority=priority
    )
    turn.state.pop("awaiting", None)
    turn.state["failures"] = 0
    contact = turn.conversation.contact
    reach = "" if contact.user_id or contact.email else " If you leave your e-mail address, we can answer there too."
    return Reply(
        "I've passed our conversation to the team, with everything you've told me. A person will reply right here, "
        "usually within a few hours (Monday to Friday, 9 am to 6 pm). You can close this window and come back "
        f"to it here.{reach}",
        actions=[{"name": "handoff", "status": "done"}],
        handoff=True,
    )


def _not_understood(turn: Turn, prediction: Prediction, *, out_of_scope: bool) -> Outcome:
    failures = int(turn.state.get("failures", 0)) + 1
    turn.state["failures"] = failures
    if failures >= MAX_FAILURES:
        reply = hand_off(turn, prediction.intent, f"the assistant did not understand {failures} messages in a row")
        return Outcome(reply, prediction.intent, prediction.confidence)
    if out_of_scope:
        text = (
            "Sorry, that's not something I can help with here. I can help with your orders, deliveries, returns "
            "and refunds, payments, our products and the store's policies. Would you like to talk to a person?"
        )
        return Outcome(Reply(text, quick_replies=[human_button()]), OUT_OF_SCOPE, prediction.confidence)
    book = load_intents()
    options: dict[str, QuickReply] = {}
    for name, _score in prediction.ranking:
        if name in book.intents and book.intents[name].handler not in ("out_of_scope", MESSAGE):
            label, value = INTENT_CHOICES.get(name) or _choice_for(book.intents[name])
            options.setdefault(label, QuickReply(label, value))
    quick = [*list(options.values())[:2], human_button()]
    text = "Sorry, I'm not sure I understood. Is it about one of these?"
    return Outcome(Reply(text, quick_replies=quick), "", prediction.confidence)


def _choice_for(intent: Intent) -> tuple[str, str]:
    phrases = expand(intent.examples[0], load_intents().frames, rng=random.Random(intent.name), limit=1)
    return intent.name.replace("_", " ").capitalize(), phrases[0] if phrases else intent.name


# --- Confirmations and slots -------------------------------------------------------------------------


def _execute(turn: Turn, pending: dict[str, Any]) -> Reply:
    if turn.user is None:
        return Reply("Please sign in to do that.", quick_replies=[human_button()])
    try:
        order = _load(turn, pending["order"])
        if pending["action"] == "cancel_order":
            return tools.cancel(order, turn.user)
        if pending["action"] == "change_address":
            return tools.change_address(order, turn.user, pending["address"])
        if pending["action"] == "start_return":
            lines = {int(line): int(units) for line, units in pending["lines"].items()}
            return tools.start_return(order, turn.user, lines)
    except DomainError as refusal:
        return Reply(f"I couldn't do that: {refusal.message}", quick_replies=[human_button()])
    return Reply("That action is no longer available.")


def _fill(turn: Turn, awaiting: dict[str, str]) -> Outcome | None:
    """Continue the request the assistant asked a question for, when this message answers it."""
    slot, intent_name = awaiting.get("slot"), awaiting.get("intent", "")
    intent = load_intents().intents.get(intent_name)
    if intent is None:
        return None
    answered = (
        (slot == "order" and bool(turn.entities.order_numbers))
        or (slot == "email" and bool(turn.entities.emails))
        or slot in ("address", "items", "product")
    )
    if not answered:
        return None
    if slot == "address":
        address = tools.parse_address(turn.text)
        if address is None:
            return None
        found = resolve_order(turn, intent_name)
        if isinstance(found, Reply):
            return Outcome(found, intent_name, None)
        return Outcome(_propose(turn, tools.propose_address(found, address)), intent_name, None)
    if slot == "items":
        found = resolve_order(turn, intent_name)
        if isinstance(found, Reply):
            return Outcome(found, intent_name, None)
        lines = tools.chosen_lines(found, turn.text)
        if lines is None:
            return None
        return Outcome(_propose(turn, tools.propose_return(found, lines)), intent_name, None)
    if slot == "product":
        return Outcome(tools.find_products(turn.text, turn.entities.max_price), intent_name, None)
    return Outcome(_dispatch(turn, intent), intent_name, None)


def _dispatch(turn: Turn, intent: Intent) -> Reply:
    if intent.handler == MESSAGE:
        return Reply(intent.reply)
    if intent.handler == "handoff":
        return hand_off(
            turn, intent.name, "complaint" if intent.name == "complaint" else "the shopper asked for a person"
        )
    handler = HANDLERS.get(intent.handler, _knowledge)
    return handler(turn, intent)


def _respond(turn: Turn) -> Outcome:
    pending = turn.state.pop("pending", None)
    if pending is not None:
        if YES.search(turn.text):
            return Outcome(_execute(turn, pending), pending["action"], None)
        if NO.search(turn.text):
            return Outcome(Reply("OK, I haven't changed anything. Anything else I can do?"), "deny", None)
    awaiting = turn.state.pop("awaiting", None)
    if awaiting is not None:
        filled = _fill(turn, awaiting)
        if filled is not None:
            return filled
    prediction = classifier().predict(turn.text)
    if is_negative(turn.text):
        return Outcome(
            hand_off(turn, prediction.intent, "strong negative sentiment", Priority.HIGH),
            prediction.intent,
            prediction.confidence,
        )
    intent = load_intents().intents.get(prediction.intent)
    if prediction.confidence < settings.SUPPORT_CONFIDENCE_THRESHOLD or intent is None:
        return _not_understood(turn, prediction, out_of_scope=False)
    if intent.handler == "out_of_scope":
        return _not_understood(turn, prediction, out_of_scope=True)
    turn.state["failures"] = 0
    return Outcome(_dispatch(turn, intent), intent.name, prediction.confidence)


def respond(conversation: Conversation, user: User | None, text: str) -> Outcome:
    """The assistant's answer to `text`; the conversation's state and detected intent are saved with it."""
    turn = Turn(conversation, user, text)
    outcome = _respond(turn)
    conversation.state = turn.state
    changes: dict[str, Any] = {"state": turn.state}
    if outcome.intent and outcome.intent not in ("deny",):
        conversation.intent = outcome.intent
        changes["intent"] = outcome.intent
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    return outcome
