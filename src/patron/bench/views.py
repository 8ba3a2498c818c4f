import json
import uuid

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from patron.bench.checkout import bare_statements


def bare(request: HttpRequest) -> HttpResponse:
    """The cheapest page the stack can serve: the reference that the store's pages are compared with."""
    return HttpResponse("Patron", content_type="text/plain")


@csrf_exempt
@require_POST
def bare_purchase(request: HttpRequest) -> JsonResponse:
    """The bare SQL of a hot-item purchase behind one request of this server: what any checkout served by this
    stack on this machine could reach at best."""
    body = json.loads(request.body)
    placeholder = "%s"
    with transaction.atomic(), connection.cursor() as cursor:
        order_id = bare_statements(
            cursor, body["variant_id"], body["product_id"], f"HTTP{uuid.uuid4().hex[:12]}", placeholder
        )
    return JsonResponse({"order_id": order_id}, status=201)
