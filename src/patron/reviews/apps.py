from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "patron.reviews"
    label = "reviews"
    verbose_name = "Reviews and Q&A"
