"""Starting shipping methods and example tax rates; the merchant edits them in the back-office."""

from decimal import Decimal

from django.db import migrations

SHIPPING_METHODS = [
    {
        "code": "standard",
        "name": "Standard delivery",
        "price": Decimal("4.99"),
        "free_over": Decimal("50.00"),
        "min_days": 3,
        "max_days": 5,
        "position": 0,
    },
    {
        "code": "express",
        "name": "Express delivery",
        "price": Decimal("14.99"),
        "free_over": None,
        "min_days": 1,
        "max_days": 2,
        "position": 1,
    },
]

TAX_RATES = [
    {"country": "US", "region": "CA", "rate": Decimal("0.0725"), "name": "California sales tax"},
    {"country": "US", "region": "NY", "rate": Decimal("0.08875"), "name": "New York sales tax"},
    {"country": "GB", "region": "", "rate": Decimal("0.20"), "name": "VAT", "applies_to_shipping": True},
    {"country": "DE", "region": "", "rate": Decimal("0.19"), "name": "MwSt.", "applies_to_shipping": True},
]


def add_defaults(apps, schema_editor):
    ShippingMethod = apps.get_model("pricing", "ShippingMethod")
    TaxRate = apps.get_model("pricing", "TaxRate")
    for method in SHIPPING_METHODS:
        ShippingMethod.objects.get_or_create(code=method["code"], defaults=method)
    for rate in TAX_RATES:
        TaxRate.objects.get_or_create(country=rate["country"], region=rate["region"], defaults=rate)


def remove_defaults(apps, schema_editor):
    ShippingMethod = apps.get_model("pricing", "ShippingMethod")
    TaxRate = apps.get_model("pricing", "TaxRate")
    ShippingMethod.objects.filter(code__in=[method["code"] for method in SHIPPING_METHODS]).delete()
    for rate in TAX_RATES:
        TaxRate.objects.filter(country=rate["country"], region=rate["region"]).delete()


class Migration(migrations.Migration):
    dependencies = [("pricing", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
