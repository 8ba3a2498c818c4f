"""The signed-in shopper's orders: the list, the order page and its live timeline fragment (htmx polling); and the
same order page and fragment, plus the checkout confirmation, for anyone holding the order's signed link."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from patron.accounts.models import User
from patron.errors import DomainError
from patron.orders import services
from patron.orders.models import Order
from patron.orders.placement import order_for_token

ORDERS_PER_PAGE = 20


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _page_context(order: Order) -> dict[str, Any]:
    return {
        "order": order,
        "timeline": services.timeline(order),
        "live": order.status not in services.FINAL_STATUSES,
        "cancellable": services.can_transition(order.status, services.S.CANCELLED),
    }


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = services.list_orders(_user(request)).filter(user=_user(request))
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "orders/list.html", {"page": page, "orders": page.object_list})


@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = services.get_order_by_number(_user(request), number)
    return render(request, "orders/detail.html", _page_context(order))


@login_required
def order_timeline(request: HttpRequest, number: str) -> HttpResponse:
    order = services.get_order_by_number(_user(request), number)
    return render(request, "orders/_timeline.html", _page_context(order))


@login_required
@require_POST
def order_cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = services.get_order_by_number(_user(request), number)
    try:
        services.cancel_order(order, actor=_user(request), note="cancelled by the customer")
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Order {order.number} is cancelled. Any payment will be refunded.")
    return redirect("orders:detail", number=order.number)


# Pages behind the signed link that checkout and the emails give every buyer, guest or not -----------------------


def _guest_context(request: HttpRequest, order: Order) -> dict[str, Any]:
    token = request.GET.get("token", "")
    timeline_url = f"{reverse('storefront:order_timeline', args=[order.number])}?{urlencode({'token': token})}"
    page_url = f"{reverse('storefront:order_page', args=[order.number])}?{urlencode({'token': token})}"
    # Cancelling needs the account: the signed link only shows the order.
    return {**_page_context(order), "cancellable": False, "timeline_url": timeline_url, "page_url": page_url}


@never_cache
@require_safe
def guest_order(request: HttpRequest, number: str) -> HttpResponse:
    order = order_for_token(number, request.GET.get("token", ""))
    return render(request, "orders/guest_detail.html", _guest_context(request, order))


@never_cache
@require_safe
def guest_order_timeline(request: HttpRequest, number: str) -> HttpResponse:
    order = order_for_token(number, request.GET.get("token", ""))
    return render(request, "orders/_timeline.html", _guest_context(request, order))


@never_cache
@require_safe
def guest_confirmation(request: HttpRequest, number: str) -> HttpResponse:
    order = order_for_token(number, request.GET.get("token", ""))
    return render(request, "orders/confirmation.html", _guest_context(request, order))
