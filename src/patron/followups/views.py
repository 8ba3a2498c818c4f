"""The pages follow-up emails link to: tracked clicks and opens, one-click unsubscribe, surveys, cart restore."""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from patron.cart.services import cart_for_request
from patron.errors import DomainError, NotFound
from patron.followups import links, services
from patron.followups.models import Message

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _message_of(data: dict[str, Any] | None) -> Message | None:
    message_id = data.get("m") if data else None
    return Message.objects.filter(pk=message_id).first() if isinstance(message_id, int) else None


def _message(kind: str, token: str, *, expires: bool = True) -> Message:
    message = _message_of(links.unsign(kind, token, expires=expires))
    if message is None:
        raise NotFound("This link is not valid any more.")
    return message


def _safe_destination(url: str) -> str:
    """Only this site's pages: a signed link cannot be edited, but an old one must not lead elsewhere."""
    site = settings.SITE_URL.rstrip("/")
    if url.startswith("/") and not url.startswith("//"):
        return url
    if url == site or url.startswith(site + "/"):
        return url
    return "/"


@require_safe
def click(request: HttpRequest, token: str) -> HttpResponse:
    data = links.unsign(links.CLICK, token)
    if not data:
        return redirect("storefront:home")
    services.record_click(int(data["m"]))
    return HttpResponseRedirect(_safe_destination(str(data.get("u", "/"))))


@require_safe
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    data = links.unsign(links.OPEN, token)
    if data:
        services.record_open(int(data["m"]))
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """One click in the email unsubscribes (GET); mail clients' own button POSTs here (RFC 8058)."""
    data = links.unsign(links.UNSUBSCRIBE, token, expires=False)
    if not data or not data.get("e"):
        raise NotFound("This link is not valid any more.")
    services.unsubscribe(str(data["e"]), message=_message_of(data))
    if request.method == "POST":
        return HttpResponse("Unsubscribed.", content_type="text/plain")
    return render(request, "followups/unsubscribed.html", {"email": data["e"], "token": token})


@require_POST
def resubscribe(request: HttpRequest, token: str) -> HttpResponse:
    data = links.unsign(links.UNSUBSCRIBE, token, expires=False)
    if not data or not data.get("e"):
        raise NotFound("This link is not valid any more.")
    services.resubscribe(str(data["e"]))
    return render(request, "followups/unsubscribed.html", {"email": data["e"], "token": token, "resubscribed": True})


class SurveyForm(forms.Form):
    score = forms.TypedChoiceField(coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(
        label="Anything you would like to tell us? (optional)",
        required=False,
        max_length=services.COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, survey: services.Survey, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["score"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(score, str(score)) for score in range(survey.low, survey.high + 1)]
        field.label = survey.question


def _add_errors(form: forms.Form, error: DomainError) -> None:
    """The service's refusal beside the fields it names, else above the form."""
    named = {name: problems for name, problems in error.fields.items() if name in form.fields}
    for name, problems in named.items():
        for problem in problems:
            form.add_error(name, problem)
    if not named:
        form.add_error(None, error.message)


@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    """The score from the email's one-click buttons is saved at once; the page then asks for a comment."""
    try:
        current = services.open_survey(token)
    except links.LinkExpired:
        return render(request, "followups/survey_expired.html", status=410)
    recorded = False
    raw = request.GET.get("score", "")
    if request.method == "GET" and raw.isdigit():
        try:
            current = services.answer_survey(current, int(raw))
        except DomainError:
            pass  # A score off the scale (an edited link) just shows the form.
        else:
            recorded = True
    answer = current.response
    initial = {"score": answer.score, "comment": answer.comment} if answer is not None else {}
    form = SurveyForm(request.POST or None, initial=initial, survey=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.answer_survey(current, form.cleaned_data["score"], form.cleaned_data["comment"])
        except DomainError as error:
            _add_errors(form, error)
        else:
            return render(request, "followups/survey_done.html", {"kind": current.kind})
    context = {"form": form, "kind": current.kind, "survey": current, "recorded": recorded}
    return render(request, "followups/survey.html", context)


@require_safe
def restore_cart(request: HttpRequest, token: str) -> HttpResponse:
    """The abandoned-cart email's button: the items go back into this visitor's cart, on whatever device."""
    message = _message(links.RESTORE, token)
    cart = cart_for_request(request, create=True)
    assert cart is not None
    restored, unavailable = services.restore_cart(message, cart)
    if unavailable:
        messages.warning(request, f"{unavailable} item(s) from your cart are no longer available.")
    elif restored:
        messages.success(request, "Welcome back! Your cart is as you left it.")
    return redirect("cart:detail")
