"""`{% analytics_page %}`: the analytics script, its page data and (with GA4) the consent banner; base.html
includes it on every page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from patron.analytics import ga4
from patron.analytics.pages import page_events

register = template.Library()


@register.inclusion_tag("analytics/_page.html", takes_context=True)
def analytics_page(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    measurement_id = ga4.measurement_id()
    tracking = settings.ANALYTICS_ENABLED
    if not isinstance(request, HttpRequest) or not (tracking or measurement_id):
        return {"config": None}
    events = page_events(cast(Mapping[str, Any], context.flatten()), request)
    config: dict[str, Any] = {
        "collect": reverse("api:report_event"),
        "track": tracking,
        "events": events.beacons if tracking else [],
        "ga4": None,
    }
    if measurement_id:
        config["ga4"] = {
            "id": measurement_id,
            "cookie": ga4.CONSENT_COOKIE,
            "trigger": ga4.TRIGGER_EVENT,
            "events": events.ga4,
        }
    return {"config": config, "ga4": bool(measurement_id)}
