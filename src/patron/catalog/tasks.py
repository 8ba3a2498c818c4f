"""Background jobs of the catalog app."""

from __future__ import annotations

from django.tasks import task

from patron.catalog import renditions


@task
def make_image_renditions(image_id: int) -> bool:
    return renditions.make_renditions(image_id)
