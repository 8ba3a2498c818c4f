"""Web pages of support: the chat widget's fragments, the shopper's support page, articles, and the staff inbox.

The widget and the inbox stay live with htmx polling of a small fragment: it answers 204 (nothing to swap) unless
a message newer than the one the browser shows exists, so a quiet conversation costs two small queries a poll.
A guest's conversation is remembered in their session; a customer's is their latest one still with the assistant
or the team.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from patron.accounts.models import User
from patron.errors import DomainError, NotFound
from patron.forms import apply_domain_error
from patron.loyalty import services as loyalty
from patron.orders import services as orders
from patron.support import chat, email_channel, services
from patron.support.forms import SnoozeForm
from patron.support.models import (
    Article,
    Channel,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
    Sender,
    TicketStatus,
)

SESSION_KEY = "support_conversation"
THREAD_LIMIT = 50
INBOX_PAGE_SIZE = 30


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def _after(request: HttpRequest) -> int:
    value = request.GET.get("after", "")
    return int(value) if value.isdigit() and len(value) < 19 else 0


# --- The shopper's chat widget -----------------------------------------------------------------------


def _session_conversation(request: HttpRequest) -> Conversation | None:
    """The conversation this browser is having: the session's, else a customer's latest unresolved one."""
    remembered = request.session.get(SESSION_KEY)
    user = _user(request)
    if isinstance(remembered, dict):
        try:
            return services.get_conversation(user, int(remembered["id"]), token=str(remembered["token"]))
        except (NotFound, KeyError, TypeError, ValueError):
            request.session.pop(SESSION_KEY, None)
    if user is not None:
        return (
            services.list_conversations(user)
            .exclude(status=ConversationStatus.RESOLVED)
            .select_related("contact", "order")
            .first()
        )
    return None


def _thread(conversation: Conversation | None, *, private: bool = False) -> list[Message]:
    if conversation is None:
        return []
    found = conversation.messages.all() if private else services.public_messages(conversation)
    latest = list(
        found.select_related("author", "email", "text", "social").order_by("-created_at", "-pk")[:THREAD_LIMIT]
    )
    return latest[::-1]


def _chat_context(request: HttpRequest, conversation: Conversation | None) -> dict[str, Any]:
    thread = _thread(conversation)
    return {
        "conversation": conversation,
        "thread": thread,
        "last_id": thread[-1].pk if thread else 0,
        "with_people": conversation is not None and conversation.status in services.OPEN_FOR_PEOPLE,
    }


@never_cache
@require_safe
def chat_panel(request: HttpRequest) -> HttpResponse:
    """The widget's panel, fetched when the shopper opens it (pages themselves may be cached and shared)."""
    return render(request, "support/_chat_panel.html", _chat_context(request, _session_conversation(request)))


@never_cache
@require_safe
def chat_thread(request: HttpRequest) -> HttpResponse:
    """The thread, only when it has a message newer than `after` (polled every few seconds)."""
    conversation = _session_conversation(request)
    if conversation is None or not services.public_messages(conversation, after=_after(request)).exists():
        return HttpResponse(status=204)
    return render(request, "support/_chat_thread.html", _chat_context(request, conversation))


@never_cache
@require_POST
def chat_send(request: HttpRequest) -> HttpResponse:
    conversation = _session_conversation(request)
    text = request.POST.get("quick") or request.POST.get("message", "")
    error = ""
    try:
        result = chat.send(
            _user(request),
            text,
            conversation_id=conversation.pk if conversation else None,
            token=conversation.token if conversation else "",
            channel=Channel.WEB,
        )
    except DomainError as refusal:
        error = refusal.message
    else:
        conversation = result.conversation
        request.session[SESSION_KEY] = {"id": conversation.pk, "token": conversation.token}
    context = _chat_context(request, conversation) | {"error": error}
    return render(request, "support/_chat_thread.html", context)


# --- The shopper's pages ------------------------------------------------------------------------------


@require_safe
def support_page(request: HttpRequest) -> HttpResponse:
    """Help: the shopper's conversations and tickets, the help articles, and a form to write to the team."""
    user = _user(request)
    context: dict[str, Any] = {
        "articles": Article.objects.filter(is_published=True).only("title", "slug"),
        "conversations": [],
        "tickets": [],
    }
    if user is not None:
        context["conversations"] = list(services.list_conversations(user).select_related("order")[:20])
        context["tickets"] = list(services.list_tickets(user)[:20])
    return render(request, "support/page.html", context)


@require_POST
def open_ticket(request: HttpRequest) -> HttpResponse:
    try:
        ticket = services.open_ticket(
            _user(request),
            subject=request.POST.get("subject", ""),
            description=request.POST.get("description", ""),
            email=request.POST.get("email", ""),
            order_number=request.POST.get("order_number", ""),
        )
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Thank you. Your ticket #{ticket.pk} is open; we'll reply by e-mail.")
    return redirect("support:page")


@login_required
@require_safe
def conversation_page(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation(_user(request), conversation_id)
    return render(request, "support/conversation.html", {"conversation": conversation, "thread": _thread(conversation)})


@require_safe
def article(request: HttpRequest, slug: str) -> HttpResponse:
    found = get_object_or_404(Article, slug=slug, is_published=True)
    paragraphs = [part.strip() for part in found.body.replace("\r\n", "\n").split("\n\n") if part.strip()]
    return render(request, "support/article.html", {"article": found, "paragraphs": paragraphs})


# --- The team's inbox ---------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> services.InboxFilters:
    return services.InboxFilters(
        status=request.GET.get("status", ""),
        channel=request.GET.get("channel", ""),
        assignee=request.GET.get("assignee", ""),
        priority=request.GET.get("priority", ""),
        team=request.GET.get("team", ""),
    )


@staff_member_required
@never_cache
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    conversations = services.inbox(_user(request), filters)
    page = Paginator(conversations, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "conversations": page.object_list,
        "filters": filters,
        "statuses": [("", "Waiting for people"), ("all", "All"), *ConversationStatus.choices],
        "channels": Channel.choices,
        "priorities": Priority.choices,
        "staff_members": User.objects.filter(is_staff=True, is_active=True).order_by("email"),
        "teams": Conversation.objects.exclude(team="").order_by("team").values_list("team", flat=True).distinct(),
    }
    template = "support/inbox/_list.html" if request.htmx else "support/inbox/list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _inbox_conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return services.get_conversation(_user(request), conversation_id)


@staff_member_required
@never_cache
@require_safe
def inbox_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _inbox_conversation(request, conversation_id)
    return render(request, "support/inbox/conversation.html", _conversation_context(conversation, SnoozeForm()))


def _conversation_context(conversation: Conversation, snooze_form: SnoozeForm) -> dict[str, Any]:
    thread = _thread(conversation, private=True)
    return {
        "conversation": conversation,
        "email_subject": email_channel.conversation_subject(conversation)
        if conversation.channel == Channel.EMAIL
        else "",
        "thread": thread,
        "last_id": thread[-1].pk if thread else 0,
        # The assistant's suggestion is for the first answer only.
        "suggestion": "" if any(m.sender == Sender.AGENT for m in thread) else conversation.suggested_reply,
        "orders": services.customer_orders(conversation.contact),
        "loyalty": loyalty.summary(conversation.contact.user) if conversation.contact.user else None,
        # Snoozing needs an end, so it has its own control rather than a place in this list.
        "statuses": [
            (value, label) for value, label in ConversationStatus.choices if value != ConversationStatus.SNOOZED
        ],
        "priorities": Priority.choices,
        "staff_members": User.objects.filter(is_staff=True, is_active=True).order_by("email"),
        "order_actions": _order_actions(conversation),
        "ticket_statuses": TicketStatus.choices,
        "snooze_form": snooze_form,
        "snooze_presets": services.SNOOZE_PRESETS,
    }


def _order_actions(conversation: Conversation) -> dict[str, Any]:
    order = conversation.order
    if order is None:
        return {}
    return {
        "cancel": orders.can_transition(order.status, orders.S.CANCELLED),
        "refundable": orders.refundable_amount(order),
        "invoice": order.status in orders.INVOICED_STATUSES,
    }


@staff_member_required
@never_cache
@require_safe
def inbox_thread(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _inbox_conversation(request, conversation_id)
    if not conversation.messages.filter(pk__gt=_after(request)).exists():
        return HttpResponse(status=204)
    thread = _thread(conversation, private=True)
    context = {"conversation": conversation, "thread": thread, "last_id": thread[-1].pk if thread else 0}
    return render(request, "support/inbox/_thread.html", context)


@staff_member_required
@require_POST
def inbox_action(request: HttpRequest, conversation_id: int, action: str) -> HttpResponse:
    """Reply, note, assign, status, priority, labels, and the order actions, each through its service."""
    conversation = _inbox_conversation(request, conversation_id)
    actor = _user(request)
    data = request.POST
    if action == "snooze":
        return _snooze(request, conversation, actor)
    try:
        done = _apply(action, conversation, actor, data)
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        if done:
            messages.success(request, done)
    return redirect("support:inbox_conversation", conversation_id=conversation.pk)


def _snooze(request: HttpRequest, conversation: Conversation, actor: User | None) -> HttpResponse:
    """Snooze, or the conversation page again with the refusal beside the date and time the agent chose."""
    form = SnoozeForm(request.POST)
    if form.is_valid():
        try:
            services.snooze(conversation, form.until_moment(), actor=actor)
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, "Snoozed. The conversation comes back to the inbox when the snooze ends.")
            return redirect("support:inbox_conversation", conversation_id=conversation.pk)
    return render(request, "support/inbox/conversation.html", _conversation_context(conversation, form))


def _apply(action: str, conversation: Conversation, actor: User | None, data: Any) -> str:
    if action == "reply":
        services.agent_reply(conversation, data.get("body", ""), actor=actor)
        return ""
    if action == "note":
        services.add_note(conversation, data.get("body", ""), actor=actor)
        return "Note added."
    if action == "assign":
        chosen = data.get("assignee", "")
        assignee = User.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        services.assign(conversation, assignee, actor=actor)
        return "Assignee changed."
    if action == "status":
        services.set_status(conversation, data.get("status", ""), actor=actor)
        return "Status changed."
    if action == "priority":
        services.set_priority(conversation, data.get("priority", ""), actor=actor)
        return "Priority changed."
    if action == "team":
        services.set_team(conversation, data.get("team", ""), actor=actor)
        return "Team changed."
    if action == "labels":
        services.set_labels(conversation, data.get("labels", "").split(","), actor=actor)
        return "Labels changed."
    order = conversation.order
    if order is None:
        raise NotFound("This conversation is not about an order.")
    if action == "cancel":
        orders.cancel_order(order, actor=actor, note=f"cancelled from support conversation {conversation.pk}")
        return f"Order {order.number} is cancelled and any payment refunded."
    if action == "refund":
        try:
            amount = Decimal(data.get("amount", ""))
        except InvalidOperation:
            amount = Decimal("0")
        orders.refund_order(order, amount, actor=actor, note=f"support conversation {conversation.pk}")
        return f"Refunded {amount} {order.currency} for order {order.number}."
    if action == "resend":
        sent = orders.resend_invoice(order, actor=actor)
        return "Invoice sent again." if sent else "The invoice already went out within the hour."
    raise NotFound("Unknown action.")
