"""Discount codes and their redemption ledger, shipping methods and tax rates: the store's price rules."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class DiscountKind(models.TextChoices):
    PERCENT = "percent", "Percentage of the subtotal"
    FIXED = "fixed", "Fixed amount"
    FREE_SHIPPING = "free_shipping", "Free shipping"
    FREE_PRODUCT = "free_product", "One unit of a product free"


# Kinds whose worth comes from the basket (the shipping charge, a product's price), not from `value`.
VALUELESS_KINDS = (DiscountKind.FREE_SHIPPING, DiscountKind.FREE_PRODUCT)


def normalize_code(code: str) -> str:
    """Codes are typed by people: case and surrounding spaces never matter."""
    return code.strip().upper()


def normalize_countries(countries: list[str]) -> list[str]:
    return sorted({country.strip().upper() for country in countries if country.strip()})


class DiscountCode(models.Model):
    """A code a shopper types at checkout. How often it was used is counted from its redemptions."""

    code = models.CharField(max_length=40, unique=True, help_text="Stored in capitals; shoppers may type any case.")
    kind = models.CharField(max_length=16, choices=DiscountKind.choices, default=DiscountKind.PERCENT)
    value = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Percent (e.g. 15 for 15 %) or an amount in the store currency; unused by free shipping and "
        "free product codes.",
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="For a free product code: the product one unit of which is free.",
    )
    min_subtotal = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))]
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    max_uses_per_customer = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: unlimited. Guests are told apart by their email address."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="discount_codes",
        help_text="When set, only this customer may use the code (e.g. a loyalty reward).",
    )
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(value__gt=0) | Q(kind__in=VALUELESS_KINDS), name="discount_value_positive"
            ),
            models.CheckConstraint(
                condition=Q(kind=DiscountKind.FREE_PRODUCT, product__isnull=False)
                | (~Q(kind=DiscountKind.FREE_PRODUCT) & Q(product__isnull=True)),
                name="discount_product_iff_free_product",
            ),
            models.CheckConstraint(
                condition=~Q(kind=DiscountKind.PERCENT) | Q(value__lte=100), name="discount_percent_at_most_100"
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="discount_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args: object, **kwargs: object) -> None:
        self.code = normalize_code(self.code)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        # Before the uniqueness check of forms, so "summer" clashes with an existing "SUMMER".
        self.code = normalize_code(self.code)
        if self.kind == DiscountKind.FREE_PRODUCT and self.product_id is None:
            raise ValidationError({"product": "Choose the product a free product code gives."})
        if self.kind != DiscountKind.FREE_PRODUCT and self.product_id is not None:
            raise ValidationError({"product": "Only a free product code names a product."})
        if self.kind not in VALUELESS_KINDS and (self.value is None or self.value <= 0):
            raise ValidationError({"value": "A percentage or an amount above 0."})


class DiscountRedemption(models.Model):
    """The ledger of uses: one row per order that used a code. Cancelled orders give their use back."""

    code = models.ForeignKey(DiscountCode, on_delete=models.PROTECT, related_name="redemptions")
    order = models.OneToOneField("orders.Order", on_delete=models.PROTECT, related_name="discount_redemption")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.EmailField(help_text="Lower-case; identifies guests for per-customer limits.")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    redeemed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-redeemed_at", "-id")
        indexes = [models.Index(fields=("code", "email"))]

    def __str__(self) -> str:
        return f"{self.code_id} on order {self.order_id}"


class ShippingMethod(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    free_over = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Free when the subtotal after discounts reaches this amount. Empty: never free.",
    )
    countries = models.JSONField(
        default=list, blank=True, help_text='ISO country codes, e.g. ["US", "CA"]. Empty: ships everywhere.'
    )
    min_days = models.PositiveSmallIntegerField(default=3)
    max_days = models.PositiveSmallIntegerField(default=5)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("position", "price", "id")
        constraints = [
            models.CheckConstraint(condition=Q(max_days__gte=F("min_days")), name="shipping_days_in_order"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.countries = normalize_countries(self.countries or [])
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        countries = self.countries or []
        if not isinstance(countries, list) or not all(
            isinstance(country, str) and len(country.strip()) == 2 and country.strip().isalpha()
            for country in countries
        ):
            raise ValidationError({"countries": 'A list of two-letter country codes, e.g. ["US", "CA"].'})
        self.countries = normalize_countries(countries)


class TaxRate(models.Model):
    """Sales tax or VAT for a country, or for one region of it; the region's rate wins over the country's."""

    country = models.CharField(max_length=2, help_text="ISO code, e.g. US.")
    region = models.CharField(max_length=60, blank=True, help_text="e.g. CA. Empty: the whole country.")
    rate = models.DecimalField(
        max_digits=7,
        decimal_places=5,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="A fraction: 0.0825 is 8.25 %.",
    )
    name = models.CharField(max_length=100, blank=True)
    applies_to_shipping = models.BooleanField(default=False)

    class Meta:
        ordering = ("country", "region")
        constraints = [
            models.UniqueConstraint(fields=("country", "region"), name="one_tax_rate_per_place"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lt=1), name="tax_rate_is_a_fraction"),
        ]

    def __str__(self) -> str:
        place = f"{self.country}-{self.region}" if self.region else self.country
        percent = f"{self.rate * 100:f}".rstrip("0").rstrip(".")
        return f"{place} {percent} %"

    def save(self, *args: object, **kwargs: object) -> None:
        self.clean()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        # Before the uniqueness check of forms, so "us" clashes with an existing "US".
        self.country = self.country.strip().upper()
        self.region = self.region.strip().upper()
