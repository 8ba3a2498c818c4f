from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "patron.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty program"
