"""Back-office for follow-ups: each flow on/off with its delay and texts, the log of every message, unsubscribes,
and the feedback page (NPS with its trend, CSAT, comments, detractors to call back)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from patron.accounts.models import User
from patron.followups import feedback, flows, services
from patron.followups.models import Flow, Message, SurveyResponse, Unsubscribe
from patron.reviews import charts

TREND_MONTHS = 12


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin[Flow]):
    list_display = ("key", "enabled", "delay_hours", "reminder_after_hours", "subject", "updated_at")
    list_editable = ("enabled", "delay_hours", "reminder_after_hours")
    fields = ("key", "enabled", "delay_hours", "reminder_after_hours", "subject", "intro")
    readonly_fields = ("key",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Flow]:
        # Every flow is listed from the start, with its defaults, so the merchant sees what runs.
        flows.ensure_flows()
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    """The log: read-only, as a record of what was sent must be."""

    list_display = (
        "flow",
        "step",
        "email",
        "channel",
        "status",
        "due_at",
        "sent_at",
        "opened_at",
        "clicked_at",
        "skip_reason",
    )
    list_filter = ("flow", "status", "channel", "due_at")
    search_fields = ("email", "subject_key", "order__number")
    date_hierarchy = "due_at"
    list_select_related = ("order",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Message._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Unsubscribe)
class UnsubscribeAdmin(admin.ModelAdmin[Unsubscribe]):
    list_display = ("email", "created_at")
    search_fields = ("email",)
    fields = ("email",)


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin[SurveyResponse]):
    list_display = ("kind", "score", "email", "order", "conversation_id", "follow_up", "comment", "created_at")
    list_filter = ("kind", "follow_up", "score", "created_at")
    search_fields = ("email", "comment", "order__number")
    list_select_related = ("order",)
    readonly_fields = (
        "kind",
        "score",
        "comment",
        "user",
        "email",
        "order",
        "conversation_id",
        "message",
        "followed_up_at",
        "followed_up_by",
        "created_at",
        "updated_at",
    )
    fields = (*readonly_fields, "follow_up", "follow_up_note")
    actions = ("mark_followed_up",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark as followed up")
    def mark_followed_up(self, request: HttpRequest, queryset: QuerySet[SurveyResponse]) -> None:
        staff: User = request.user  # type: ignore[assignment]
        count = services.mark_followed_up(staff, queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} answer(s) marked as followed up.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("feedback/", self.admin_site.admin_view(self.feedback_view), name="followups_surveyresponse_feedback")
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "feedback_url": reverse("admin:followups_surveyresponse_feedback")}
        return super().changelist_view(request, extra)

    def feedback_view(self, request: HttpRequest) -> HttpResponse:
        trend = feedback.nps_by_month(TREND_MONTHS)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Customer feedback",
            "nps": feedback.nps_summary(),
            "csat": feedback.csat_summary(),
            "trend": trend,
            "nps_chart": charts.line_chart(
                [
                    charts.Point(row.month.strftime("%b %y"), row.nps.score, f"{row.nps.responses} answers")
                    for row in trend
                ],
                title="NPS per month",
                low=-100,
                high=100,
            ),
            "follow_ups": feedback.needing_follow_up(),
            "comments": feedback.latest_comments(),
        }
        return TemplateResponse(request, "admin/followups/feedback.html", context)
