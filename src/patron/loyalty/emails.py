"""Customer emails of the loyalty program, in plain text and HTML, with a link to the loyalty page."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from patron.loyalty.models import LoyaltyPoints, LoyaltyProgram


def loyalty_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("loyalty:page")


def send_expiry_warning(account: LoyaltyPoints, expires_at: datetime, program: LoyaltyProgram) -> None:
    """Tell the customer their points expire soon and that earning or redeeming anything keeps them."""
    context = {
        "account": account,
        "user": account.user,
        "expires_at": expires_at,
        "program": program,
        "loyalty_url": loyalty_url(),
        "store_name": settings.STORE_NAME,
    }
    subject = " ".join(render_to_string("loyalty/email/expiry_warning_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("loyalty/email/expiry_warning.txt", context),
        to=[account.user.email],
    )
    message.attach_alternative(render_to_string("loyalty/email/expiry_warning.html", context), "text/html")
    message.send()
