"""A small, fully known catalog for storefront tests (page tests and browser tests share it)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from patron.catalog import renditions
from patron.catalog.models import Category, Product, ProductImage, Variant
from patron.catalog.services import refresh_products


@dataclass
class SampleCatalog:
    electronics: Category
    audio: Category
    clothing: Category
    headphones: Product
    earbuds: Product
    speaker: Product
    tshirt: Product
    hoodie: Product

    @property
    def products(self) -> list[Product]:
        return [self.headphones, self.earbuds, self.speaker, self.tshirt, self.hoodie]


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (400, 400)) -> bytes:
    """A small PNG: a coloured square with a lighter disc, enough to look like a product shot."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    width, height = size
    lighter = tuple(min(255, channel + 70) for channel in colour)
    draw.ellipse((width // 5, height // 5, width * 4 // 5, height * 4 // 5), fill=lighter)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def add_image(product: Product, colour: tuple[int, int, int], *, alt_text: str = "", position: int = 0) -> ProductImage:
    image = ProductImage(product=product, alt_text=alt_text, position=position)
    image.image.save(f"{product.slug}-{position}.png", ContentFile(picture(colour)), save=True)
    # What the background job does after an upload, done at once so pages offer the smaller copies.
    renditions.make_renditions(image.pk)
    image.refresh_from_db()
    return image


def make_product(
    category: Category,
    name: str,
    slug: str,
    *,
    brand: str,
    variants: list[dict[str, Any]],
    description: str = "",
    attributes: dict[str, str] | None = None,
) -> Product:
    product = Product.objects.create(
        name=name,
        slug=slug,
        brand=brand,
        category=category,
        description=description,
        attributes=attributes or {},
    )
    Variant.objects.bulk_create(
        Variant(
            product=product,
            sku=spec["sku"],
            options=spec.get("options", {}),
            price=Decimal(spec["price"]),
            compare_at_price=Decimal(spec["compare_at"]) if spec.get("compare_at") else None,
            stock=spec.get("stock", 10),
            position=position,
        )
        for position, spec in enumerate(variants)
    )
    return product


def build_sample_catalog(*, with_images: bool = True) -> SampleCatalog:
    electronics = Category.objects.create(name="Electronics", slug="electronics", description="Sound and gadgets.")
    audio = Category.objects.create(name="Audio", slug="audio", parent=electronics)
    clothing = Category.objects.create(name="Clothing", slug="clothing", description="Everyday wear.")
    headphones = make_product(
        audio,
        "Bluetooth Headphones",
        "bluetooth-headphones",
        brand="Sonora",
        description="Wireless over-ear headphones with 30 hours of battery.",
        attributes={"connectivity": "Bluetooth", "battery": "30 h"},
        variants=[{"sku": "SON-BT-1", "price": "99.00", "compare_at": "129.00", "stock": 12}],
    )
    earbuds = make_product(
        audio,
        "Wired Earbuds",
        "wired-earbuds",
        brand="Acme",
        description="Small earbuds with a braided cable.",
        attributes={"connectivity": "Wired"},
        variants=[{"sku": "ACM-EB-1", "price": "19.00", "stock": 0}],
    )
    speaker = make_product(
        electronics,
        "Portable Speaker",
        "portable-speaker",
        brand="Acme",
        description="A loud little speaker for the garden.",
        attributes={"connectivity": "Bluetooth"},
        variants=[{"sku": "ACM-SP-1", "price": "45.00", "stock": 30}],
    )
    tshirt = make_product(
        clothing,
        "Organic Cotton T-shirt",
        "organic-cotton-t-shirt",
        brand="Basics",
        description="A soft T-shirt in organic cotton.",
        attributes={"material": "Cotton"},
        variants=[
            {"sku": "BAS-TS-S-RED", "options": {"size": "S", "colour": "Red"}, "price": "15.00", "stock": 8},
            {"sku": "BAS-TS-M-RED", "options": {"size": "M", "colour": "Red"}, "price": "15.00", "stock": 3},
            {"sku": "BAS-TS-L-RED", "options": {"size": "L", "colour": "Red"}, "price": "17.00", "stock": 0},
            {"sku": "BAS-TS-M-BLUE", "options": {"size": "M", "colour": "Blue"}, "price": "15.00", "stock": 20},
            {"sku": "BAS-TS-L-BLUE", "options": {"size": "L", "colour": "Blue"}, "price": "17.00", "stock": 9},
        ],
    )
    hoodie = make_product(
        clothing,
        "Fleece Hoodie",
        "fleece-hoodie",
        brand="Northwind",
        description="A warm hoodie for cold evenings.",
        attributes={"material": "Fleece"},
        variants=[{"sku": "NW-HD-1", "price": "59.00", "stock": 4}],
    )
    if with_images:
        add_image(headphones, (40, 70, 120), alt_text="Black Bluetooth headphones")
        add_image(headphones, (120, 60, 40), position=1)
        add_image(tshirt, (170, 40, 50), alt_text="Red organic cotton T-shirt")
        add_image(speaker, (30, 120, 90))
    catalog = SampleCatalog(electronics, audio, clothing, headphones, earbuds, speaker, tshirt, hoodie)
    refresh_products([product.pk for product in catalog.products])
    for product in catalog.products:
        product.refresh_from_db()
    return catalog
