from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "patron.cart"
    label = "cart"
    verbose_name = "Carts"
