from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from patron.loyalty import views

app_name = "loyalty"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.page, name="page"),
    path("rewards/<int:reward_id>/redeem/", views.redeem, name="redeem"),
    path("estimate/<int:product_id>/", views.estimate, name="estimate"),
    path("summary/", views.summary, name="summary"),
]
