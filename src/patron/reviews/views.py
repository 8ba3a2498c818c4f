"""Review and Q&A pages of the storefront: writing (also from a review-request email's link), editing, votes,
reports, and the review list and questions that the product page loads with htmx."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from patron.accounts.models import User
from patron.catalog.models import Product
from patron.catalog.services import get_product
from patron.errors import DomainError, NotFound
from patron.forms import apply_domain_error
from patron.page_cache import cache_page_for_visitors, is_partial
from patron.reviews import forms, services
from patron.reviews.models import Question, Review, Status
from patron.reviews.presentation import viewer
from patron.storefront.templatetags.storefront import active_variants


def _product_url(product: Product, anchor: str = "reviews") -> str:
    return reverse("storefront:product", args=[product.slug]) + f"#{anchor}"


def _signed_in(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _writer(request: HttpRequest, product: Product) -> tuple[User | None, str]:
    """Who writes: the signed-in customer, or the one a review-request email's signed link was made for."""
    user = viewer(request)
    if user is not None:
        return user, ""
    token = request.POST.get("token") or request.GET.get("token") or ""
    return services.user_for_link(token, product.pk), token


def _variant_label(options: dict[str, Any]) -> str:
    return ", ".join(f"{name.replace('_', ' ').capitalize()}: {value}" for name, value in options.items())


def _uploads(files: list[Any]) -> list[services.Upload]:
    return [services.Upload(file=upload, size=upload.size) for upload in files]


@require_http_methods(["GET", "POST"])
def write(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_product(slug)
    user, token = _writer(request, product)
    if user is None:
        return redirect_to_login(request.get_full_path())
    existing = services.own_review(user, product.pk)
    if existing is not None:
        if viewer(request) is not None:
            return redirect("reviews:edit", existing.pk)
        messages.info(request, "You have already reviewed this product. Thank you!")
        return redirect(_product_url(product))
    variants = active_variants(product)
    choices = [(v.pk, _variant_label(v.options)) for v in variants if v.options] if len(variants) > 1 else []
    delivered = services.delivered_order_for(user, product.pk)
    bought = delivered.lines.filter(product=product).values_list("variant_id", flat=True).first() if delivered else None
    rating = request.GET.get("rating", "")
    initial = {"rating": int(rating) if rating in {"1", "2", "3", "4", "5"} else None, "variant": bought}
    form = forms.ReviewForm(request.POST or None, request.FILES or None, initial=initial, variant_choices=choices)
    if request.method == "POST" and form.is_valid():
        data = services.ReviewInput(
            rating=form.cleaned_data["rating"],
            title=form.cleaned_data["title"],
            comment=form.cleaned_data["comment"],
            variant_id=form.cleaned_data.get("variant"),
        )
        try:
            review = services.create_review(user, product.pk, data, uploads=_uploads(form.cleaned_data["photos"]))
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            if review.is_published:
                messages.success(request, "Thank you! Your review is on the product page.")
            else:
                messages.success(request, "Thank you! Your review will appear once we have read it.")
            return redirect(_product_url(product))
    context = {"product": product, "form": form, "token": token, "writer": user, "verified": delivered is not None}
    return render(request, "reviews/write.html", context)


def _own(request: HttpRequest, review_id: int) -> Review:
    review = Review.objects.select_related("product").filter(pk=review_id, user=_signed_in(request)).first()
    if review is None:
        raise NotFound("No such review.")
    return review


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _own(request, review_id)
    initial = {"rating": review.rating, "title": review.title, "comment": review.comment}
    form = forms.EditReviewForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = services.ReviewChanges(
            rating=form.cleaned_data["rating"], title=form.cleaned_data["title"], comment=form.cleaned_data["comment"]
        )
        try:
            uploads = _uploads(form.cleaned_data["photos"])
            if uploads:
                services.add_photos(review.user, review.pk, uploads)
            review = services.update_review(review.user, review.pk, changes)
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            if review.is_published:
                messages.success(request, "Your review is updated.")
            else:
                messages.success(request, "Your review is updated and will appear again once we have read it.")
            return redirect(_product_url(review.product))
    return render(request, "reviews/edit.html", {"review": review, "product": review.product, "form": form})


@login_required
@require_POST
def delete(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _own(request, review_id)
    services.delete_review(_signed_in(request), review.pk)
    messages.success(request, "Your review is deleted.")
    return redirect(_product_url(review.product))


@login_required
@require_POST
def delete_photo(request: HttpRequest, review_id: int, photo_id: int) -> HttpResponse:
    review = _own(request, review_id)
    services.delete_photo(_signed_in(request), review.pk, photo_id)
    return redirect("reviews:edit", review.pk)


@login_required
@require_POST
def helpful(request: HttpRequest, review_id: int) -> HttpResponse:
    try:
        count, _ = services.vote_helpful(_signed_in(request), review_id)
    except DomainError as error:
        if is_partial(request):
            return HttpResponse(error.message, status=error.status)
        messages.error(request, error.message)
        count = 0
    if is_partial(request):
        return render(
            request, "reviews/_helpful.html", {"review": Review(pk=review_id, helpful_count=count), "voted": True}
        )
    voted = Review.objects.select_related("product").filter(pk=review_id).first()
    return redirect(_product_url(voted.product) if voted else "storefront:home")


@login_required
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest, review_id: int) -> HttpResponse:
    review = Review.objects.select_related("product", "user").filter(pk=review_id, status=Status.PUBLISHED).first()
    if review is None:
        raise NotFound("No such review.")
    form = forms.ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_review(
                _signed_in(request), review.pk, form.cleaned_data["reason"], form.cleaned_data["note"]
            )
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, "Thank you. We will look at this review.")
            return redirect(_product_url(review.product))
    return render(request, "reviews/report.html", {"review": review, "product": review.product, "form": form})


@require_safe
@cache_page_for_visitors()
def review_list(request: HttpRequest, product_id: int) -> HttpResponse:
    """All of a product's reviews, sorted and filtered; the product page swaps in the list part with htmx."""
    product = get_product(product_id)
    try:
        filters = services.parse_filters({**request.GET.dict(), "product": product.pk})
    except DomainError:
        filters = services.ReviewFilters(product_id=product.pk)
    page = services.list_reviews(None, filters)
    context = {
        "product": product,
        "page": page,
        "reviews": page.items,
        "filters": filters,
        "review_sorts": services.SORT_LABELS,
        "voted_reviews": services.has_voted(viewer(request), [review.pk for review in page.items]),
        "rating": services.rating_summary(product.pk),
    }
    template = "reviews/_list.html" if is_partial(request) else "reviews/list.html"
    return render(request, template, context)


def _questions_context(
    request: HttpRequest, product: Product, form: forms.QuestionForm | None = None
) -> dict[str, Any]:
    user = viewer(request)
    return {
        "product": product,
        "questions": services.answered_questions(product.pk),
        "open_questions": services.open_questions(user, product.pk),
        "question_form": form or forms.QuestionForm(),
        "answer_form": forms.AnswerForm(),
    }


@require_safe
@cache_page_for_visitors()
def questions(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_product(product_id)
    template = "reviews/_questions.html" if is_partial(request) else "reviews/questions.html"
    return render(request, template, _questions_context(request, product))


@login_required
@require_POST
def ask(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_product(product_id)
    form = forms.QuestionForm(request.POST)
    if form.is_valid():
        try:
            services.ask_question(_signed_in(request), product.pk, form.cleaned_data["body"])
        except DomainError as error:
            apply_domain_error(form, error)
        else:
            notice = "Thank you! Your question will be shown here once it has an answer."
            if is_partial(request):
                context = {**_questions_context(request, product), "notice": notice}
                return render(request, "reviews/_questions.html", context)
            messages.success(request, notice)
            return redirect(_product_url(product, "questions"))
    if is_partial(request):
        return render(request, "reviews/_questions.html", _questions_context(request, product, form))
    messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
    return redirect(_product_url(product, "questions"))


@login_required
@require_POST
def answer(request: HttpRequest, question_id: int) -> HttpResponse:
    form = forms.AnswerForm(request.POST)
    question = Question.objects.select_related("product").filter(pk=question_id).first()
    if question is None:
        raise NotFound("No such question.")
    if form.is_valid():
        try:
            services.answer_question(_signed_in(request), question.pk, form.cleaned_data["body"])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Thank you for answering!")
    else:
        messages.error(request, "Write an answer first.")
    return redirect(_product_url(question.product, "questions"))
