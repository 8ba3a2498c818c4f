"""With a bucket configured, `patron demo` stores its product pictures in S3 (moto's S3 server on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import moto_server, s3_client

BUCKET = "patron-demo-media"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_S3_REGION_NAME": "us-east-1"}


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_pictures_go_to_the_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env |= CREDENTIALS | {
        "PATRON_VAR_DIR": str(tmp_path),
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "DJANGO_SETTINGS_MODULE": "patron.settings",
    }
    for args in (["migrate", "--noinput", "--verbosity", "0"], ["demo", "--products", "3", "--seed", "2"]):
        subprocess.run([sys.executable, "-m", "patron.cli", *args], env=env, check=True, capture_output=True)

    objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert all(item["Key"].startswith("products/") for item in objects)
    originals = [item for item in objects if item["Key"].endswith(".jpg")]
    copies = [item for item in objects if item["Key"].endswith(("-160w.webp", "-320w.webp"))]
    assert len(originals) == 3 and len(copies) == 6 and len(objects) == 9
    assert all(10_000 < item["Size"] < 60_000 for item in originals)
    assert all(item["Size"] < 10_000 for item in copies), "the copies are smaller than the original"
    picture = s3.get_object(Bucket=BUCKET, Key=originals[0]["Key"])
    assert picture["Body"].read(3) == b"\xff\xd8\xff", "a JPEG"
    copy = s3.get_object(Bucket=BUCKET, Key=copies[0]["Key"])
    assert copy["Body"].read(12)[8:] == b"WEBP"
    assert not (tmp_path / "media").exists(), "nothing written to local media"
