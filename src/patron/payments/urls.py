from __future__ import annotations

from django.urls import path

from patron.payments import views

app_name = "payments"

urlpatterns = [
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
