"""The loyalty pages: the program page (balance, tier progress, rewards, history, how to earn), redeeming a
reward, and two fragments fetched by other pages: a product's points estimate and the account summary.

The fragments are fetched with htmx apart from their pages, so the shared cache of anonymous product pages never
holds one shopper's tier, and a program change shows at once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from patron.accounts.models import User
from patron.errors import DomainError
from patron.loyalty import services


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) and request.user.is_authenticated else None


@require_safe
@never_cache
def page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    context: dict[str, Any] = {
        "program": services.get_program(),
        "rules": services.earning_rules_shown(),
        "tiers": services.all_tiers(),
        "rewards": services.reward_options(user),
    }
    if user is not None:
        context |= {
            "summary": services.summary(user),
            "codes": services.reward_codes(user),
            "history": services.history(user, request.GET.get("page")),
            "referral": services.referral_stats(user),
        }
    return render(request, "loyalty/page.html", context)


@login_required
@require_POST
def redeem(request: HttpRequest, reward_id: int) -> HttpResponse:
    try:
        redemption = services.redeem_reward(_user(request), reward_id)
    except DomainError as refusal:
        messages.error(request, refusal.message)
    else:
        code = redemption.code
        messages.success(request, f"Your code {code.code} is ready: use it at checkout.")
    return redirect(reverse("loyalty:page") + "#your-codes")


@require_safe
@never_cache
def estimate(request: HttpRequest, product_id: int) -> HttpResponse:
    context = {"estimate": services.estimate_product(product_id, _user(request)), "signed_in": _user(request)}
    return render(request, "loyalty/_estimate.html", context)


@require_safe
@never_cache
def summary(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user is None or not services.get_program().is_active:
        return HttpResponse("")
    return render(request, "loyalty/_summary.html", {"summary": services.summary(user)})
