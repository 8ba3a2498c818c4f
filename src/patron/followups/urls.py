from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from patron.followups import views

app_name = "followups"

urlpatterns: list[URLPattern | URLResolver] = [
    path("c/<str:token>/", views.click, name="click"),
    path("o/<str:token>/pixel.gif", views.open_pixel, name="open"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("unsubscribe/<str:token>/undo/", views.resubscribe, name="resubscribe"),
    path("survey/<str:token>/", views.survey, name="survey"),
    path("cart/<str:token>/", views.restore_cart, name="restore_cart"),
]
