from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "patron.accounts"
    label = "accounts"
