from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.files.images import get_image_dimensions
from django.core.validators import MinValueValidator
from django.db import models


def _catalog_changed() -> None:
    """Categories are few and edited in many places (admin, seeding, scripts): each save refreshes page caches."""
    from patron.catalog.services import bump_catalog_version

    bump_catalog_version()


class Category(models.Model):
    """A node of the category tree. `path` lists the ids from the root, so a subtree is one prefix query."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")

    class Meta:
        ordering = ("path", "position", "name")
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        super().save(*args, **kwargs)  # type: ignore[arg-type]
        prefix = self.parent.path if self.parent else ""
        path = f"{prefix}{self.pk:06d}/"
        if path != self.path:
            old = self.path
            Category.objects.filter(pk=self.pk).update(path=path)
            self.path = path
            if old:
                for child in Category.objects.filter(path__startswith=old).exclude(pk=self.pk):
                    Category.objects.filter(pk=child.pk).update(path=path + child.path[len(old) :])
        _catalog_changed()

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)  # type: ignore[arg-type]
        _catalog_changed()
        return deleted

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1


class Product(models.Model):
    """A product as shoppers see it; what is bought is one of its variants.

    `min_price`, `max_price`, `total_stock` and `sales_count` are derived from the variants and orders and
    kept up to date by `catalog.services`, so that listing and sorting need no joins.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    brand = models.CharField(max_length=100, blank=True, db_index=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    attributes = models.JSONField(default=dict, blank=True, help_text='e.g. {"material": "cotton"}')
    is_active = models.BooleanField(default=True, db_index=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    min_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"), db_index=True)
    max_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    total_stock = models.IntegerField(default=0)
    sales_count = models.PositiveIntegerField(default=0, db_index=True)

    class Meta:
        ordering = ("-created_at", "id")
        indexes = [models.Index(fields=["is_active", "category"], name="product_active_category")]

    def __str__(self) -> str:
        return self.name

    @property
    def in_stock(self) -> bool:
        return self.total_stock > 0


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="products/%Y/%m/", width_field="width", height_field="height")
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # {"source": the file they were made from, "files": {width: file}}; see catalog/renditions.py.
    renditions = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.alt_text or f"Image of {self.product_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Remote storages (S3) close the upload once sent, before Django reads the size from it; the
        # storefront needs width and height on every <img>, so read them back from the stored file.
        if self.image and (self.width is None or self.height is None):
            with self.image.storage.open(str(self.image.name)) as stored:
                self.width, self.height = get_image_dimensions(stored)
        super().save(*args, **kwargs)


class Variant(models.Model):
    """A buyable version of a product (e.g. size M in red). A product without options has one variant."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(max_length=64, unique=True)
    options = models.JSONField(default=dict, blank=True, help_text='e.g. {"size": "M", "colour": "Red"}')
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    compare_at_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    stock = models.IntegerField(default=0, validators=[MinValueValidator(0)])
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("position", "id")
        constraints = [
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="variant_stock_not_negative"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="variant_price_not_negative"),
        ]

    def __str__(self) -> str:
        label = ", ".join(f"{v}" for v in self.options.values())
        return f"{self.product.name} ({label})" if label else self.product.name

    @property
    def on_sale(self) -> bool:
        return self.compare_at_price is not None and self.compare_at_price > self.price


class ProductAttribute(models.Model):
    """One (name, value) pair of a product or of one of its variants, kept for filters and facet counts."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="attribute_values")
    name = models.CharField(max_length=50)
    value = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "name", "value"], name="unique_product_attribute")]
        indexes = [models.Index(fields=["name", "value"], name="attribute_name_value")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class SearchTerm(models.Model):
    """A word of the catalog's vocabulary, used to correct typos in search queries."""

    term = models.CharField(max_length=100, unique=True)
    frequency = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.term
