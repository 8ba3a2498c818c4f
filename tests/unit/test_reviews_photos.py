"""Photo processing in memory: formats accepted and refused, size limits, orientation, scaling, no metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pytest_django import Settings

from patron.errors import ValidationFailed
from patron.reviews.photos import process
from patron.reviews.testing import gps_exif, photo_bytes


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "GIF"])
def test_accepted_formats_become_jpeg(image_format: str) -> None:
    result = process(io.BytesIO(photo_bytes(30, 20, image_format=image_format)))
    picture = _open(result.read())
    assert (picture.format, picture.size, picture.mode) == ("JPEG", (30, 20), "RGB")
    assert str(result.name).endswith(".jpg")


def test_large_photos_are_scaled_down_keeping_their_shape(settings: Settings) -> None:
    settings.REVIEWS_PHOTO_MAX_EDGE = 100
    picture = _open(process(io.BytesIO(photo_bytes(400, 300))).read())
    assert picture.size == (100, 75)


def test_metadata_is_dropped_and_the_orientation_applied() -> None:
    exif = Image.Exif()
    exif.load(gps_exif())
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = photo_bytes(40, 20, exif=exif.tobytes())
    assert _open(data).getexif().get_ifd(0x8825)  # the upload does carry a GPS position
    result = _open(process(io.BytesIO(data)).read())
    assert result.size == (20, 40)
    assert dict(result.getexif()) == {}
    assert "exif" not in result.info and "icc_profile" not in result.info


def test_transparent_images_get_a_white_background() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(buffer, format="PNG")
    picture = _open(process(io.BytesIO(buffer.getvalue())).read()).convert("RGB")
    red, green, blue = picture.getpixel((1, 1))  # type: ignore[misc]
    assert min(red, green, blue) > 240


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The photo is empty."),
        (photo_bytes(200, 200)[:400], "That photo is damaged and cannot be read."),
        (b"%PDF-1.4\n", "That file is not a photo: upload a JPEG, PNG, WebP or GIF image."),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "That file is not a photo: upload a JPEG, PNG, WebP or GIF image.",
        ),
    ],
)
def test_files_that_are_not_photos_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        process(io.BytesIO(data))
    assert refused.value.fields == {"photos": [message]}


def test_other_image_formats_are_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="BMP")
    with pytest.raises(ValidationFailed):
        process(io.BytesIO(buffer.getvalue()))


def test_too_big_files_and_too_many_pixels_are_refused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.REVIEWS_PHOTO_MAX_MB = 1
    with pytest.raises(ValidationFailed, match="at most 1 MB"):
        process(io.BytesIO(b"\xff" * (1024 * 1024 + 1)))
    monkeypatch.setattr("patron.reviews.photos.MAX_PIXELS", 100)
    with pytest.raises(ValidationFailed, match="too many pixels"):
        process(io.BytesIO(photo_bytes(20, 20)))
