"""Small catalogs for tests: categories and products with variants, kept in sync with search like the services do."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import count
from typing import Any

from django.core.files.base import ContentFile
from django.utils.text import slugify
from PIL import Image

from patron.catalog.models import Category, Product, ProductImage, Variant
from patron.catalog.services import refresh_products

_sequence = count(1)


def make_category(name: str, *, parent: Category | None = None, slug: str | None = None) -> Category:
    return Category.objects.create(name=name, slug=slug or slugify(name), parent=parent)


def make_product(
    name: str,
    *,
    category: Category | None = None,
    brand: str = "",
    price: Decimal | str | int = "10.00",
    stock: int = 5,
    options: Sequence[Mapping[str, str]] = (),
    description: str = "",
    attributes: Mapping[str, Any] | None = None,
    is_active: bool = True,
    slug: str | None = None,
) -> Product:
    """A product with one variant per options dict (one plain variant without), each at `price` with `stock`."""
    number = next(_sequence)
    if category is None:
        category = Category.objects.filter(slug="general").first() or make_category("General")
    product = Product.objects.create(
        name=name,
        slug=slug or f"{slugify(name) or 'product'}-{number}",
        brand=brand,
        category=category,
        description=description,
        attributes=dict(attributes or {}),
        is_active=is_active,
    )
    for position, chosen in enumerate(options or [{}]):
        Variant.objects.create(
            product=product,
            sku=f"SKU-{number}-{position}",
            options=dict(chosen),
            price=Decimal(str(price)),
            stock=stock,
            position=position,
        )
    refresh_products([product.pk])
    product.refresh_from_db()
    return product


def png_bytes(width: int = 8, height: int = 6, colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_image(product: Product, *, width: int = 8, height: int = 6, alt_text: str = "") -> ProductImage:
    image = ProductImage(product=product, alt_text=alt_text or product.name)
    image.image.save(f"{product.slug}.png", ContentFile(png_bytes(width, height)), save=False)
    image.save()
    return image
