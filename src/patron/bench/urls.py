"""Mounted only when the benchmark runs the server (PATRON_BENCH=1)."""

from django.urls import path

from patron.bench import views

urlpatterns = [
    path("bare/", views.bare, name="bench_bare"),
    path("bare-purchase/", views.bare_purchase, name="bench_bare_purchase"),
]
