from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from patron.success import views

app_name = "success"

# Mounted at /account/ before the accounts URLs (see patron/urls.py): the accounts app cannot import this one.
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
]
