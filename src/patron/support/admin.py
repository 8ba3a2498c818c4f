"""Back-office for support: the knowledge-base articles the assistant answers from, and read-only views of
conversations and tickets (the team works them in the inbox at /support/inbox/)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from patron.support.models import Article, Conversation, ConversationEvent, Message, Ticket, TicketEvent


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


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("created_at", "sender", "author", "private", "intent", "body")
    readonly_fields = fields


class ConversationEventInline(ReadOnlyInline):
    model = ConversationEvent
    verbose_name_plural = "history"
    fields = ("at", "field", "from_value", "to_value", "actor", "note")
    readonly_fields = fields


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
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
    list_display = ("id", "subject", "contact", "status", "priority", "order", "created_at")
    list_filter = ("status", "priority")
    search_fields = ("subject", "contact__email", "order__number")
    list_select_related = ("contact", "order")
    inlines = (TicketEventInline,)
