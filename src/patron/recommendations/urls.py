from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from patron.recommendations import views

app_name = "recommendations"

urlpatterns: list[URLPattern | URLResolver] = [path("widget/", views.widget, name="widget")]
