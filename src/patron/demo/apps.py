from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "patron.demo"
    label = "demo"
    verbose_name = "Demo store"
