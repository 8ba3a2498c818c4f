from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve

from patron.api import api

admin.site.site_header = "Patron back-office"
admin.site.site_title = "Patron back-office"

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("account/orders/", include("patron.orders.urls")),
    # The account home is the customer-success dashboard; accounts (commerce core) must not import it.
    path("account/", include("patron.success.urls")),
    path("account/", include("patron.accounts.urls")),
    path("cart/", include("patron.cart.urls")),
    path("payments/", include("patron.payments.urls")),
    path("analytics/", include("patron.analytics.urls")),
    path("recommendations/", include("patron.recommendations.urls")),
    path("loyalty/", include("patron.loyalty.urls")),
    path("support/", include("patron.support.urls")),
    path("reviews/", include("patron.reviews.urls")),
    path("followups/", include("patron.followups.urls")),
    path("", include("patron.storefront.urls")),
]

if settings.SERVE_MEDIA:
    media_prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns.append(re_path(rf"^{media_prefix}(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}))

if settings.BENCH_URLS:
    urlpatterns.append(path("bench/", include("patron.bench.urls")))
