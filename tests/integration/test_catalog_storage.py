"""Product images go through Django's storage API: the local file system by default, S3 when configured."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.error import URLError
from urllib.request import urlopen

import boto3
import pytest
from django.core.files.storage import storages
from django.test import override_settings
from PIL import Image

from patron.catalog.models import ProductImage
from tests.factories import make_image, make_product, png_bytes

pytestmark = pytest.mark.django_db
BUCKET = "patron-media"
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto) on a free local port, for this module's tests."""
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            try:
                with urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except (URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)  # polling interval while the server binds its port
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3_storage(moto_endpoint: str) -> Iterator[Any]:
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket=BUCKET)
    default = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": moto_endpoint,
            "region_name": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
            "querystring_auth": False,
            "file_overwrite": False,
        },
    }
    from django.conf import settings

    with override_settings(STORAGES={**settings.STORAGES, "default": default}):
        yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


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
