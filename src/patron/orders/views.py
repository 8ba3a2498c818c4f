"""The signed-in shopper's orders: the list, the order page and its live timeline fragment (htmx polling)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from patron.accounts.models import User
from patron.errors import DomainError, NotFound
from patron.orders import services
from patron.orders.models import Order

ORDERS_PER_PAGE = 20


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _not_found_as_404[**P](view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            return view(*args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper


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
@_not_found_as_404
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = services.get_order_by_number(_user(request), number)
    return render(request, "orders/detail.html", _page_context(order))


@login_required
@_not_found_as_404
def order_timeline(request: HttpRequest, number: str) -> HttpResponse:
    order = services.get_order_by_number(_user(request), number)
    return render(request, "orders/_timeline.html", _page_context(order))


@login_required
@require_POST
@_not_found_as_404
def order_cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = services.get_order_by_number(_user(request), number)
    try:
        services.cancel_order(order, actor=_user(request), note="cancelled by the customer")
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Order {order.number} is cancelled. Any payment will be refunded.")
    return redirect("orders:detail", number=order.number)
