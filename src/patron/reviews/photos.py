"""Customer photos: checked, turned upright, scaled down and re-encoded as JPEG, so no metadata (EXIF location,
camera serials) and no crafted file ever reaches storage or other shoppers."""

from __future__ import annotations

import io
import uuid
import warnings
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

from patron.errors import ValidationFailed

# MPO is what some cameras call a JPEG with a second frame.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF"})
JPEG_QUALITY = 85
# Refuse images that would take this many pixels in memory once decoded (a "decompression bomb").
MAX_PIXELS = 50_000_000
FIELD = "photos"


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={FIELD: [message]})


def max_bytes() -> int:
    return int(settings.REVIEWS_PHOTO_MAX_MB * 1024 * 1024)


def _read_limited(upload: IO[bytes], size: int | None) -> bytes:
    limit = max_bytes()
    if size is not None and size > limit:
        raise _refuse(f"A photo may be at most {settings.REVIEWS_PHOTO_MAX_MB} MB.")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _refuse(f"A photo may be at most {settings.REVIEWS_PHOTO_MAX_MB} MB.")
    if not data:
        raise _refuse("The photo is empty.")
    return data


def _open(data: bytes) -> Image.Image:
    not_an_image = _refuse("That file is not a photo: upload a JPEG, PNG, WebP or GIF image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                raise not_an_image
            if probe.width * probe.height > MAX_PIXELS:
                raise _refuse("That photo has too many pixels.")
            probe.verify()
            # verify() leaves the image unusable: open it again to decode it.
            image = Image.open(io.BytesIO(data))
            image.load()
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise not_an_image from None
    except (OSError, SyntaxError, ValueError):
        raise _refuse("That photo is damaged and cannot be read.") from None
    return image


def process(upload: IO[bytes], *, size: int | None = None) -> ContentFile[bytes]:
    """The upload as a clean JPEG at most REVIEWS_PHOTO_MAX_EDGE pixels on its longer side, ready to store."""
    image = _open(_read_limited(upload, size))
    # Phones store pictures sideways with an orientation tag; apply it before the tags are dropped.
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        backdrop = Image.new("RGB", image.size, "white")
        backdrop.paste(image, mask=image.getchannel("A"))
        image = backdrop
    elif image.mode != "RGB":
        image = image.convert("RGB")
    edge = settings.REVIEWS_PHOTO_MAX_EDGE
    image.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    output = io.BytesIO()
    # A new image carries no EXIF, XMP or ICC data unless asked to.
    image.save(output, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return ContentFile(output.getvalue(), name=f"{uuid.uuid4().hex}.jpg")
