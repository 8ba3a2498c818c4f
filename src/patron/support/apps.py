from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "patron.support"
    label = "support"
    verbose_name = "Support"
