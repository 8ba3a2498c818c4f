from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "patron.payments"
    label = "payments"
    verbose_name = "Payments"
