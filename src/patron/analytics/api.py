"""POST /api/analytics/events: what a page's script (or an API client) reports about the shopper's behaviour.

The cached product and search pages carry no CSRF token, so this endpoint needs none; what keeps it from being
abused is that it takes only the client-side event names with a checked, small payload, and a rate limit per
visitor and per client address (429 with Retry-After). The visitor is the browser's `patron_vid` cookie.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from patron.analytics import services

router = Router(tags=["analytics"])


class Accepted(Schema):
    accepted: str


_EVENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            # sendBeacon posts text/plain; the body is parsed as JSON whatever its declared type.
            media: {"schema": services.ClientEvent.model_json_schema()}
            for media in ("application/json", "text/plain")
        },
    }
}


@router.post(
    "/events",
    response={202: Accepted},
    summary="Report a product view, a search or a recommendation shown or clicked",
    description=(
        'Body: `{"name": ..., "payload": {...}}` of at most 4 KB. Payloads: product_viewed '
        "`{product_id}`; search_performed `{query, result_count}`; recommendation_shown and "
        "recommendation_clicked `{recommendation_id, slot, model, product_id | product_ids}`. No CSRF token needed."
    ),
    openapi_extra=_EVENT_BODY,
)
def report_event(request: HttpRequest) -> Status[Accepted]:
    return Status(202, Accepted(accepted=services.collect(request)))
