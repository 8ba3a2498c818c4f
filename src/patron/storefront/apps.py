from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "patron.storefront"
    label = "storefront"
