"""Smaller copies of product pictures, so that a phone loads a picture the size of its screen, not the original.

Each picture gets WebP renditions at the standard widths below its own width, stored beside it (local files or
S3, through the same storage). `ProductImage.renditions` records which source file they were made from, so a
replaced picture never shows its predecessor's renditions: until its own are made, pages use the original.
Pages offer them with `srcset`, and browsers pick by the slot's `sizes` and the screen's pixel density.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from functools import partial
from pathlib import PurePosixPath
from typing import Any, TypedDict

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from patron.catalog.models import ProductImage
from patron.progress import Progress, silent_progress

logger = logging.getLogger(__name__)

WIDTHS = (160, 320, 640, 960, 1280)
WEBP_QUALITY = 80


class Renditions(TypedDict):
    source: str
    files: dict[str, str]


def _storage() -> Storage:
    return ProductImage._meta.get_field("image").storage


def widths_for(width: int) -> list[int]:
    """The standard widths under the picture's own: a rendition is never larger than its source."""
    return [candidate for candidate in WIDTHS if candidate < width]


def render(picture: Image.Image, width: int) -> bytes:
    height = max(1, round(picture.height * width / picture.width))
    resized = picture.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    resized.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def store_renditions(source_name: str, content: bytes) -> Renditions:
    """Write the renditions of one stored picture beside it and return what to record on its row."""
    with Image.open(io.BytesIO(content)) as opened:
        # Cameras store portrait photos sideways with an orientation tag that browsers apply to the original;
        # a rendition carries no tag, so it must be turned the same way.
        picture = ImageOps.exif_transpose(opened)
        if picture.mode not in ("RGB", "RGBA"):
            picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
        storage = _storage()
        stem = PurePosixPath(source_name)
        files = {}
        for width in widths_for(picture.width):
            name = str(stem.with_name(f"{stem.stem}-{width}w.webp"))
            files[str(width)] = storage.save(name, ContentFile(render(picture, width)))
    return {"source": source_name, "files": files}


def is_current(image: ProductImage) -> bool:
    return bool(image.image) and _current_files(str(image.image.name), image.renditions) is not None


def _current_files(source: str, recorded: dict[str, Any] | None) -> dict[str, str] | None:
    """The recorded rendition files when they were made from `source`, else None."""
    if not recorded or recorded.get("source") != source:
        return None
    files: dict[str, str] = recorded.get("files", {})
    return files


def make_renditions(image_id: int) -> bool:
    """Make the renditions of one picture unless they are current; True when new ones were recorded, and cached
    pages then learn of them.

    Safe to run twice or on two workers: the row is updated only while it still shows the same file, and files
    written for a picture replaced meanwhile are deleted again.
    """
    made = _record_renditions(image_id)
    if made:
        _catalog_changed()
    return made


def _catalog_changed() -> None:
    from patron.catalog.services import bump_catalog_version

    bump_catalog_version()


def _record_renditions(image_id: int) -> bool:
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None or not image.image or is_current(image):
        return False
    source = str(image.image.name)
    try:
        with _storage().open(source) as stored:
            content = stored.read()
        made = store_renditions(source, content)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        logger.warning("No renditions for product picture %s (%s): not a readable image", image_id, source)
        return False
    previous = list((image.renditions or {}).get("files", {}).values())
    updated = ProductImage.objects.filter(pk=image_id, image=source).update(renditions=made)
    if not updated:
        delete_files(made["files"].values())
        return False
    delete_files(name for name in previous if name not in made["files"].values())
    return True


def stale_image_ids(product_ids: Iterable[int] | None = None) -> list[int]:
    """Pictures (of these products, or all) whose renditions are missing or were made from another file."""
    images = ProductImage.objects.only("id", "image", "renditions").order_by("pk")
    if product_ids is not None:
        images = images.filter(product_id__in=list(product_ids))
    return [image.pk for image in images.iterator(chunk_size=2000) if image.image and not is_current(image)]


def make_missing_renditions(progress: Progress = silent_progress) -> tuple[int, int]:
    """Make every picture's missing or stale renditions in this process, for pictures uploaded before Patron made
    them or while no worker ran; (pictures done, pictures that could not be read)."""
    stale = stale_image_ids()
    done = 0
    with progress("Smaller picture copies", len(stale)) as advance:
        for image_id in stale:
            done += _record_renditions(image_id)
            advance(1)
    # One catalog change for the whole catch-up, not one per picture: each empties the page caches.
    if done:
        _catalog_changed()
    return done, len(stale) - done


def request_renditions(product_ids: Iterable[int]) -> int:
    """Queue a background job for every picture of these products whose renditions are missing or stale."""
    from patron.catalog.tasks import make_image_renditions

    ids = stale_image_ids(product_ids)
    for image_id in ids:
        transaction.on_commit(partial(make_image_renditions.enqueue, image_id))
    return len(ids)


def rendition_files(images: Iterable[ProductImage]) -> list[str]:
    return [name for image in images for name in (image.renditions or {}).get("files", {}).values()]


def delete_files(names: Iterable[str]) -> None:
    storage = _storage()
    for name in names:
        if name:
            storage.delete(name)


def rendition_urls(source: str, recorded: dict[str, Any] | None) -> list[tuple[int, str]]:
    """(width, URL) of a picture's current renditions, narrowest first, for API clients choosing their own size."""
    files = _current_files(source, recorded)
    if not files:
        return []
    storage = _storage()
    return sorted((int(width), storage.url(name)) for width, name in files.items())


def srcset(source: str, width: int | None, recorded: dict[str, Any] | None) -> str:
    """The `srcset` of a picture: its current renditions and the original at its own width."""
    if not source or not width:
        return ""
    candidates = [*rendition_urls(source, recorded), (width, _storage().url(source))]
    return ", ".join(f"{url} {candidate}w" for candidate, url in candidates)


def image_srcset(image: ProductImage) -> str:
    return srcset(str(image.image.name or ""), image.width, image.renditions)
