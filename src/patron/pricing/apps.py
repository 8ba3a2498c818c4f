from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "patron.pricing"
    label = "pricing"
    verbose_name = "Pricing"
