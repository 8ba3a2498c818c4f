from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from patron.accounts.models import User
from patron.success import services


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The shopper's account home: a card per part of their relationship with the store, each linking onward."""
    user: User = request.user  # type: ignore[assignment]
    return render(request, "success/dashboard.html", {"dashboard": services.customer_dashboard(user)})
