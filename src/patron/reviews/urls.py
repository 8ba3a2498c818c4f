from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from patron.reviews import views

app_name = "reviews"

urlpatterns: list[URLPattern | URLResolver] = [
    path("write/<slug:slug>/", views.write, name="write"),
    path("<int:review_id>/edit/", views.edit, name="edit"),
    path("<int:review_id>/delete/", views.delete, name="delete"),
    path("<int:review_id>/photos/<int:photo_id>/delete/", views.delete_photo, name="delete_photo"),
    path("<int:review_id>/helpful/", views.helpful, name="helpful"),
    path("<int:review_id>/report/", views.report, name="report"),
    path("product/<int:product_id>/", views.review_list, name="list"),
    path("product/<int:product_id>/questions/", views.questions, name="questions"),
    path("product/<int:product_id>/questions/ask/", views.ask, name="ask"),
    path("questions/<int:question_id>/answer/", views.answer, name="answer"),
]
