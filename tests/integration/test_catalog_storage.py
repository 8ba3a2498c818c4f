"""Product images go through Django's storage API: the local file system by default, S3 when configured."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.files.storage import storages
from django.test import override_settings
from PIL import Image

from patron.catalog import renditions
from patron.catalog.models import ProductImage
from tests.factories import make_image, make_product, png_bytes
from tests.servers import moto_server, s3_default_storage

pytestmark = pytest.mark.django_db
BUCKET = "patron-media"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_storage(moto_endpoint: str) -> Iterator[Any]:
    with s3_default_storage(moto_endpoint, BUCKET) as client:
        yield client


def test_product_image_is_stored_on_s3(s3_storage: Any, moto_endpoint: str) -> None:
    product = make_product("Lamp")
    image = make_image(product, width=12, height=7)
    assert type(storages["default"]).__name__ == "S3Storage"

    name = cast(str, image.image.name)
    stored = s3_storage.get_object(Bucket=BUCKET, Key=name)["Body"].read()
    assert stored == png_bytes(12, 7)
    assert name.startswith("products/") and name.endswith(".png")
    assert image.image.url == f"{moto_endpoint}/{BUCKET}/{name}"
    assert (image.width, image.height) == (12, 7)


def test_smaller_copies_of_a_picture_are_stored_on_s3_beside_it(s3_storage: Any, moto_endpoint: str) -> None:
    product = make_product("Lamp")
    image = make_image(product, width=500, height=250)

    assert renditions.make_renditions(image.pk)
    image.refresh_from_db()
    for width, name in image.renditions["files"].items():
        body = s3_storage.get_object(Bucket=BUCKET, Key=name)["Body"].read()
        with Image.open(io.BytesIO(body)) as copy:
            assert (copy.format, copy.size) == ("WEBP", (int(width), int(width) // 2))
    assert renditions.image_srcset(image).startswith(
        f"{moto_endpoint}/{BUCKET}/{image.renditions['files']['160']} 160w, "
    )


def test_product_image_is_stored_on_the_local_file_system(tmp_path: Path) -> None:
    with override_settings(MEDIA_ROOT=tmp_path, MEDIA_URL="/media/"):
        product = make_product("Chair")
        image = make_image(product, width=5, height=9)
        saved = ProductImage.objects.get(pk=image.pk)
        path = tmp_path / cast(str, saved.image.name)
        assert path.read_bytes() == png_bytes(5, 9)
        assert saved.image.url == f"/media/{saved.image.name}"
        with Image.open(path) as picture:
            assert picture.size == (5, 9)
        assert (saved.width, saved.height) == (5, 9)
