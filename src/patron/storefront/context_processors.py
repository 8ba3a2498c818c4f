from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from patron.storefront.navigation import root_categories


def storefront(request: HttpRequest) -> dict[str, Any]:
    return {
        "store_name": settings.STORE_NAME,
        "currency": settings.STORE_CURRENCY,
        # Lazy, so that pages whose template does not show the navigation never read the tree.
        "nav_categories": SimpleLazyObject(root_categories),
    }
