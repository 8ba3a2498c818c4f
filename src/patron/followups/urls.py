from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "followups"

urlpatterns: list[URLPattern | URLResolver] = []
