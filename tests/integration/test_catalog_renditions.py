"""Smaller copies of product pictures: made in the background after an upload, offered with srcset, gone with
the product, and never shown for a picture they were not made from."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from PIL import Image

from patron.accounts.testing import make_user
from patron.catalog import renditions
from patron.catalog.models import Product, ProductImage
from patron.catalog.services import catalog_version, delete_products
from patron.recommendations.services import cards
from tests.factories import make_category, make_image, make_product, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    settings.MEDIA_URL = "/media/"
    return tmp_path


def stored_size(name: str) -> tuple[str, tuple[int, int]]:
    with default_storage.open(name) as stored, Image.open(stored) as picture:
        return cast(str, picture.format), picture.size


def test_renditions_are_webp_at_the_standard_widths_below_the_picture_keeping_its_shape() -> None:
    made = renditions.store_renditions("products/wide.png", png_bytes(1000, 500))

    assert made["source"] == "products/wide.png"
    assert sorted(map(int, made["files"])) == [160, 320, 640, 960]
    for width, name in made["files"].items():
        assert name.endswith(f"-{width}w.webp")
        assert stored_size(name) == ("WEBP", (int(width), int(width) // 2))


def test_a_photo_taken_sideways_is_turned_as_browsers_show_it() -> None:
    sideways = Image.new("RGB", (400, 200), "blue")
    exif = sideways.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    out = io.BytesIO()
    sideways.save(out, "JPEG", exif=exif)

    made = renditions.store_renditions("products/portrait.jpg", out.getvalue())

    assert list(made["files"]) == ["160"]
    assert stored_size(made["files"]["160"])[1] == (160, 320)


def test_making_renditions_records_them_once_and_pages_offer_them() -> None:
    product = make_product("Desk Lamp")
    image = make_image(product, width=700, height=350)
    assert renditions.image_srcset(image) == f"/media/{image.image.name} 700w"
    version = catalog_version()

    assert renditions.make_renditions(image.pk) is True
    assert renditions.make_renditions(image.pk) is False, "current renditions are not made again"

    image.refresh_from_db()
    assert sorted(image.renditions["files"], key=int) == ["160", "320", "640"]
    assert catalog_version() != version, "cached pages learn of the new copies"
    offered = renditions.image_srcset(image)
    urls = [f"/media/{image.renditions['files'][width]} {width}w" for width in ("160", "320", "640")]
    assert offered == ", ".join([*urls, f"/media/{image.image.name} 700w"])


def test_a_replaced_picture_never_shows_its_predecessors_copies_and_theirs_are_deleted() -> None:
    product = make_product("Desk Lamp")
    image = make_image(product, width=700, height=350)
    renditions.make_renditions(image.pk)
    image.refresh_from_db()
    old_files = list(image.renditions["files"].values())

    image.image.save("replacement.png", ContentFile(png_bytes(400, 400)), save=False)
    image.width = image.height = None
    image.save()
    image.refresh_from_db()
    assert renditions.image_srcset(image) == f"/media/{image.image.name} 400w"
    assert renditions.stale_image_ids([product.pk]) == [image.pk]

    assert renditions.make_renditions(image.pk) is True
    image.refresh_from_db()
    assert sorted(image.renditions["files"], key=int) == ["160", "320"]
    assert not any(default_storage.exists(name) for name in old_files)


def test_a_file_that_is_not_a_picture_is_left_without_copies() -> None:
    product = make_product("Desk Lamp")
    image = make_image(product, width=300, height=300)
    with default_storage.open(str(image.image.name), "wb") as stored:
        stored.write(b"not a picture")

    assert renditions.make_renditions(image.pk) is False
    image.refresh_from_db()
    assert image.renditions == {}


def test_a_picture_uploaded_in_the_back_office_gets_its_copies_in_the_background(
    client: Client, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(make_user("owner@example.com", is_staff=True, is_superuser=True))
    product = make_product("Trail Shoe", category=make_category("Shoes"))
    variant = product.variants.get()
    form = {
        "name": product.name,
        "slug": product.slug,
        "brand": "",
        "category": product.category_id,
        "description": "",
        "attributes": "{}",
        "is_active": "on",
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "1",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-id": variant.pk,
        "variants-0-product": product.pk,
        "variants-0-sku": variant.sku,
        "variants-0-options": "{}",
        "variants-0-price": "10.00",
        "variants-0-stock": "5",
        "variants-0-position": "0",
        "variants-0-is_active": "on",
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        "images-0-image": SimpleUploadedFile("shoe.png", png_bytes(800, 600), content_type="image/png"),
        "images-0-alt_text": "Trail shoe, side view",
        "images-0-position": "0",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/catalog/product/{product.pk}/change/", form)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors

    image = ProductImage.objects.get(product=product)
    assert sorted(image.renditions["files"], key=int) == ["160", "320", "640"]
    assert stored_size(image.renditions["files"]["320"]) == ("WEBP", (320, 240))


def test_the_storefront_the_api_and_recommendation_cards_offer_the_copies(client: Client) -> None:
    product = make_product("Desk Lamp", category=make_category("Lighting"))
    image = make_image(product, width=700, height=350)
    renditions.make_renditions(image.pk)
    image.refresh_from_db()
    small = f"/media/{image.renditions['files']['160']} 160w"

    page = client.get(f"/p/{product.slug}/").content.decode()
    main = re.search(r'<img id="gallery-main"[^>]*>', page)
    assert main and small in main.group(0) and 'sizes="' in main.group(0)

    listing = client.get(f"/c/{product.category.slug}/").content.decode()
    card = re.search(r'<img src="/media/[^"]*"[^>]*srcset="([^"]*)"[^>]*sizes="([^"]*)"', listing)
    assert card and small in card.group(1) and "50vw" in card.group(2)

    api = json.loads(client.get(f"/api/products/{product.pk}").content)
    assert [copy["width"] for copy in api["images"][0]["renditions"]] == [160, 320, 640]
    assert api["images"][0]["renditions"][0]["url"] == f"/media/{image.renditions['files']['160']}"

    assert small in cards([product.pk])[product.pk].image_srcset


def test_deleting_a_product_deletes_its_pictures_copies(django_capture_on_commit_callbacks: Any) -> None:
    product = make_product("Desk Lamp")
    image = make_image(product, width=700, height=350)
    renditions.make_renditions(image.pk)
    image.refresh_from_db()
    files = [image.image.name, *image.renditions["files"].values()]
    assert all(default_storage.exists(name) for name in files)

    with django_capture_on_commit_callbacks(execute=True):
        delete_products([product.pk])

    assert not Product.objects.filter(pk=product.pk).exists()
    assert not any(default_storage.exists(name) for name in files)


def test_the_catch_up_command_makes_what_is_missing_and_reports_what_it_could_not_read() -> None:
    product = make_product("Desk Lamp")
    fresh, broken = make_image(product, width=700, height=350), make_image(product, width=300, height=300)
    done_before = make_image(product, width=200, height=200)
    renditions.make_renditions(done_before.pk)
    with default_storage.open(str(broken.image.name), "wb") as stored:
        stored.write(b"not a picture")
    out = io.StringIO()
    version = catalog_version()

    call_command("renditions", stdout=out)

    assert catalog_version() != version, "cached pages learn of the new copies"

    assert "Made copies of 1 pictures; 1 could not be read as pictures." in out.getvalue()
    assert "Smaller picture copies" in out.getvalue(), "a progress bar"
    fresh.refresh_from_db()
    assert renditions.is_current(fresh)
    assert renditions.stale_image_ids() == [broken.pk]
