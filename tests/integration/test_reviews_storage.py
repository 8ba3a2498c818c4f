"""Review photos go through Django's storage API: checked and re-encoded, then stored on S3 (a moto server here)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.core.files.storage import storages
from PIL import Image

from patron.accounts.models import User
from patron.reviews import services
from patron.reviews.services import ReviewInput, Upload
from patron.reviews.testing import gps_exif, photo_bytes
from tests.factories import make_product
from tests.servers import moto_server, s3_default_storage

pytestmark = pytest.mark.django_db
BUCKET = "patron-review-photos"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint: str) -> Iterator[Any]:
    with s3_default_storage(moto_endpoint, BUCKET, REVIEWS_PHOTO_MAX_EDGE=200) as client:
        yield client


def test_a_review_photo_is_stored_on_s3_clean_and_scaled(s3: Any, moto_endpoint: str, customer: User) -> None:
    product = make_product("Rain Jacket")
    upload = Upload(io.BytesIO(photo_bytes(800, 600, exif=gps_exif())))
    review = services.create_review(customer, product.pk, ReviewInput(rating=5), uploads=[upload])
    assert type(storages["default"]).__name__ == "S3Storage"

    photo = review.photos.get()
    name = cast(str, photo.image.name)
    assert name.startswith("reviews/") and name.endswith(".jpg")
    assert photo.image.url == f"{moto_endpoint}/{BUCKET}/{name}"
    stored = s3.get_object(Bucket=BUCKET, Key=name)
    body = stored["Body"].read()
    assert stored["ContentType"] == "image/jpeg"
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.size == (200, 150) and dict(picture.getexif()) == {}
    assert b"SN-1234567" not in body and (photo.width, photo.height) == (200, 150)


def test_deleting_the_review_deletes_the_object(
    s3: Any, customer: User, django_capture_on_commit_callbacks: Any
) -> None:
    product = make_product("Rain Boots")
    review = services.create_review(
        customer, product.pk, ReviewInput(rating=4), uploads=[Upload(io.BytesIO(photo_bytes()))]
    )
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_review(customer, review.pk)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
