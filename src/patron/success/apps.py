from django.apps import AppConfig


class SuccessConfig(AppConfig):
    name = "patron.success"
    label = "success"
    verbose_name = "Customer success"
