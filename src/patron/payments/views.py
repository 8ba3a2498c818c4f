from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from patron.api import error_body
from patron.errors import DomainError
from patron.payments import services


@csrf_exempt  # Stripe signs its requests instead; the signature is checked before anything is read.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        services.handle_stripe_webhook(request.body, request.headers.get("Stripe-Signature", ""))
    except DomainError as exc:
        # Any answer but 2xx makes Stripe deliver the event again later, which is what a passing outage needs.
        return JsonResponse(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    return JsonResponse({"received": True})
