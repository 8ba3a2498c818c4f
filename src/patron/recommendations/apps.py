from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "patron.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"
