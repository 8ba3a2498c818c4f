"""Back-office for reviews and Q&A: moderation through the services (approve, reject, reply, answer), the
merchant's settings, and the insights page with its charts. "Verified buyer" is shown, never editable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from patron.accounts.models import User
from patron.admin_helpers import ReadOnlyInline
from patron.catalog.models import Product
from patron.catalog.services import bump_catalog_version
from patron.errors import DomainError
from patron.reviews import charts, insights, services
from patron.reviews.models import (
    Answer,
    Question,
    RatingSummary,
    Review,
    ReviewPhoto,
    ReviewReport,
    ReviewSettings,
)

INSIGHTS_CACHE_SECONDS = 3600


def _staff(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _each(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any], change: Callable[[Any], object]
) -> None:
    done = 0
    for item in queryset.order_by("pk"):
        try:
            change(item)
        except DomainError as error:
            model_admin.message_user(request, f"#{item.pk}: {error.message}", messages.ERROR)
        else:
            done += 1
    if done:
        model_admin.message_user(request, f"{done} updated.", messages.SUCCESS)


@admin.register(ReviewSettings)
class ReviewSettingsAdmin(admin.ModelAdmin[ReviewSettings]):
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:reviews_reviewsettings_change", args=[ReviewSettings.load().pk]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PhotoInline(admin.TabularInline[ReviewPhoto, Review]):
    model = ReviewPhoto
    extra = 0
    fields = ("preview", "width", "height")
    readonly_fields = fields
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="photo")
    def preview(self, photo: ReviewPhoto) -> str:
        return format_html('<a href="{0}"><img src="{0}" alt="" width="96" style="height:auto"></a>', photo.image.url)


class ReportInline(ReadOnlyInline):
    model = ReviewReport
    fields = ("reason", "note", "user", "created_at")
    readonly_fields = fields


class ReviewForm(forms.ModelForm[Review]):
    public_reply = forms.CharField(
        label="Public reply",
        required=False,
        max_length=services.REPLY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown under the review on the product page. Empty it to remove the reply.",
    )

    class Meta:
        model = Review
        fields = ("incentivized",)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin[Review]):
    form = ReviewForm
    list_display = (
        "product",
        "rating",
        "title",
        "author",
        "status",
        "verified",
        "incentivized",
        "flags",
        "report_count",
        "created_at",
    )
    list_filter = ("status", "verified", "incentivized", "rating", "created_at")
    search_fields = ("title", "comment", "user__email", "product__name")
    list_select_related = ("product", "user")
    readonly_fields = (
        "product",
        "variant",
        "user",
        "order",
        "rating",
        "title",
        "comment",
        "status",
        "verified",
        "moderation_flags",
        "moderation_note",
        "helpful_count",
        "report_count",
        "replied_at",
        "created_at",
        "published_at",
    )
    fieldsets = (
        (None, {"fields": ("product", "variant", "user", "rating", "title", "comment")}),
        ("Trust", {"fields": ("verified", "order", "incentivized", "helpful_count")}),
        ("Moderation", {"fields": ("status", "moderation_flags", "moderation_note", "report_count", "published_at")}),
        ("Reply", {"fields": ("public_reply", "replied_at")}),
        (None, {"fields": ("created_at",)}),
    )
    inlines = (PhotoInline, ReportInline)
    actions = ("approve", "reject")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="by")
    def author(self, review: Review) -> str:
        return review.user.email

    @admin.display(description="held for")
    def flags(self, review: Review) -> str:
        return ", ".join(review.moderation_flags)

    def get_form(self, request: HttpRequest, obj: Review | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.base_fields["public_reply"].initial = obj.reply if obj is not None else ""
        return form

    def save_model(self, request: HttpRequest, obj: Review, form: forms.ModelForm[Review], change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "incentivized" in form.changed_data and obj.is_published:
            bump_catalog_version()
        if "public_reply" in form.changed_data:
            services.reply_to_review(_staff(request), obj.pk, form.cleaned_data["public_reply"])

    @admin.action(description="Approve (publish)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        staff = _staff(request)
        _each(self, request, queryset, lambda review: services.moderate_review(staff, review.pk, approve=True))

    @admin.action(description="Reject (hide)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        staff = _staff(request)
        _each(self, request, queryset, lambda review: services.moderate_review(staff, review.pk, approve=False))

    def get_urls(self) -> list[URLPattern]:
        own = [path("insights/", self.admin_site.admin_view(self.insights_view), name="reviews_review_insights")]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "insights_url": reverse("admin:reviews_review_insights")}
        return super().changelist_view(request, extra)

    def insights_view(self, request: HttpRequest) -> HttpResponse:
        product_id = request.GET.get("product", "")
        product = Product.objects.filter(pk=int(product_id)).first() if product_id.isdigit() else None
        summaries = RatingSummary.objects.filter(product=product) if product else RatingSummary.objects.all()
        # Recomputed when a review changes what shoppers see (its summary is saved then) or a month begins.
        changed = summaries.aggregate(last=Max("updated_at"))["last"]
        stamp = f"{changed.timestamp() if changed else 0}:{timezone.now():%Y-%m}"
        key = f"reviews:insights:{product.pk if product else 'all'}:{stamp}"
        computed = cache.get(key)
        if computed is None:
            computed = {
                "trend": insights.rating_trend(product.pk if product else None),
                "themes": insights.review_themes(product.pk if product else None),
            }
            cache.set(key, computed, INSIGHTS_CACHE_SECONDS)
        trend = computed["trend"]
        themes = computed["themes"]
        label = "%b %y"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Review insights · {product.name if product else 'whole store'}",
            "product": product,
            "products": Product.objects.filter(rating_summary__review_count__gt=0).order_by("name")[:500],
            "trend": trend,
            "rating_chart": charts.line_chart(
                [
                    charts.Point(m.month.strftime(label), float(m.average) if m.average else None, f"{m.reviews}")
                    for m in trend
                ],
                title="Average rating per month",
                low=1,
                high=5,
            ),
            "count_chart": charts.bar_chart(
                [charts.Point(m.month.strftime("%b %Y"), m.reviews) for m in trend], title="Reviews per month"
            ),
            "themes": themes,
            "positive_chart": charts.bar_chart(
                [charts.Point(t.phrase, t.share * 100, f"{t.reviews} reviews") for t in themes.positive],
                title="Themes of positive reviews (4-5 stars)",
                colour="#0f6e5c",
            ),
            "negative_chart": charts.bar_chart(
                [charts.Point(t.phrase, t.share * 100, f"{t.reviews} reviews") for t in themes.negative],
                title="Themes of negative reviews (1-2 stars)",
                colour="#b42318",
            ),
        }
        return TemplateResponse(request, "admin/reviews/insights.html", context)


class AnswerInline(admin.TabularInline[Answer, Question]):
    model = Answer
    extra = 0
    fields = ("body", "user", "by_staff", "by_verified_buyer", "status", "created_at")
    readonly_fields = fields
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class QuestionForm(forms.ModelForm[Question]):
    staff_answer = forms.CharField(
        label="Answer as the store",
        required=False,
        max_length=services.ANSWER_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Published at once under the question.",
    )

    class Meta:
        model = Question
        fields: tuple[str, ...] = ()


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin[Question]):
    form = QuestionForm
    list_display = ("body", "product", "status", "answer_count", "created_at")
    list_filter = ("status", "answer_count", "created_at")
    search_fields = ("body", "product__name", "user__email")
    list_select_related = ("product",)
    readonly_fields = ("product", "user", "body", "status", "moderation_flags", "answer_count", "created_at")
    inlines = (AnswerInline,)
    actions = ("approve", "reject")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Question, form: forms.ModelForm[Question], change: bool) -> None:
        super().save_model(request, obj, form, change)
        answer = form.cleaned_data.get("staff_answer", "").strip()
        if answer:
            services.answer_question(_staff(request), obj.pk, answer)

    @admin.action(description="Approve")
    def approve(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        staff = _staff(request)
        _each(self, request, queryset, lambda question: services.moderate_question(staff, question.pk, approve=True))

    @admin.action(description="Reject")
    def reject(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        staff = _staff(request)
        _each(self, request, queryset, lambda question: services.moderate_question(staff, question.pk, approve=False))


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin[Answer]):
    list_display = ("body", "question", "by_staff", "by_verified_buyer", "status", "created_at")
    list_filter = ("status", "by_staff", "by_verified_buyer")
    search_fields = ("body", "question__body")
    readonly_fields = ("question", "user", "body", "by_staff", "by_verified_buyer", "status", "created_at")
    actions = ("approve", "reject")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Approve")
    def approve(self, request: HttpRequest, queryset: QuerySet[Answer]) -> None:
        staff = _staff(request)
        _each(self, request, queryset, lambda answer: services.moderate_answer(staff, answer.pk, approve=True))

    @admin.action(description="Reject")
    def reject(self, request: HttpRequest, queryset: QuerySet[Answer]) -> None:
        staff = _staff(request)
        _each(self, request, queryset, lambda answer: services.moderate_answer(staff, answer.pk, approve=False))
