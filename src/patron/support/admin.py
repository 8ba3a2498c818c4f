"""Back-office for support: the knowledge-base articles the assistant answers from, read-only conversations (the
team works them in the inbox at /support/inbox/) and tickets, whose status changes through recorded actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from patron.accounts.models import User
from patron.admin_helpers import ReadOnlyAdmin, ReadOnlyInline
from patron.errors import DomainError
from patron.support import services
from patron.support.models import Article, Conversation, ConversationEvent, Message, Ticket, TicketEvent, TicketStatus


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_published", "updated_at")
    list_filter = ("is_published",)
    search_fields = ("title", "body", "keywords")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("updated_at",)

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        # The assistant's index is rebuilt when an article's timestamp moves.
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("created_at", "sender", "author", "private", "intent", "body")
    readonly_fields = fields


class ConversationEventInline(ReadOnlyInline):
    model = ConversationEvent
    verbose_name_plural = "history"
    fields = ("at", "field", "from_value", "to_value", "actor", "note")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    # Read-only, but staff holding the delete permission may still remove a conversation.
    allow_delete = True
    list_display = ("id", "contact", "channel", "status", "priority", "assignee", "intent", "last_message_at", "inbox")
    list_filter = ("status", "channel", "priority")
    search_fields = ("contact__email", "contact__name", "order__number")
    list_select_related = ("contact", "assignee")
    inlines = (MessageInline, ConversationEventInline)
    exclude = ("state", "token")

    @admin.display(description="")
    def inbox(self, conversation: Conversation) -> str:
        return format_html('<a href="/support/inbox/{}/">Open in the inbox</a>', conversation.pk)


class TicketEventInline(ReadOnlyInline):
    model = TicketEvent
    verbose_name_plural = "history"
    fields = ("at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    # Status changes go through the recorded actions below; staff holding the delete permission may still remove one.
    allow_delete = True
    list_display = ("id", "subject", "contact", "status", "priority", "order", "created_at")
    list_filter = ("status", "priority")
    search_fields = ("subject", "contact__email", "order__number")
    list_select_related = ("contact", "order")
    inlines = (TicketEventInline,)
    actions = ("mark_open", "mark_pending", "mark_solved", "mark_closed")

    def _set(self, request: HttpRequest, tickets: QuerySet[Ticket], status: str) -> None:
        """Each change goes through the service, so it is recorded in the ticket's history with the staff member."""
        actor = request.user if isinstance(request.user, User) else None
        changed = 0
        for ticket in tickets.order_by("pk"):
            try:
                services.set_ticket_status(ticket, status, actor=actor)
            except DomainError as refusal:
                self.message_user(request, f"#{ticket.pk}: {refusal.message}", messages.ERROR)
            else:
                changed += 1
        self.message_user(request, f"{changed} ticket(s) now {TicketStatus(status).label.lower()}.")

    @admin.action(description="Mark open")
    def mark_open(self, request: HttpRequest, tickets: QuerySet[Ticket]) -> None:
        self._set(request, tickets, TicketStatus.OPEN)

    @admin.action(description="Mark waiting for the customer")
    def mark_pending(self, request: HttpRequest, tickets: QuerySet[Ticket]) -> None:
        self._set(request, tickets, TicketStatus.PENDING)

    @admin.action(description="Mark solved")
    def mark_solved(self, request: HttpRequest, tickets: QuerySet[Ticket]) -> None:
        self._set(request, tickets, TicketStatus.SOLVED)

    @admin.action(description="Mark closed")
    def mark_closed(self, request: HttpRequest, tickets: QuerySet[Ticket]) -> None:
        self._set(request, tickets, TicketStatus.CLOSED)
