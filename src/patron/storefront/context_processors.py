from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def storefront(request: HttpRequest) -> dict[str, Any]:
    return {"store_name": settings.STORE_NAME, "currency": settings.STORE_CURRENCY}
