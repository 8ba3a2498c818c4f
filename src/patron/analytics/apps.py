from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "patron.analytics"
    label = "analytics"
    verbose_name = "Behaviour analytics"
