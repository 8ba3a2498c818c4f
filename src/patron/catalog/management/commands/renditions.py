"""`patron renditions`: make the smaller copies of every product picture that lacks them."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand
from rich.console import Console

from patron.catalog.renditions import make_missing_renditions
from patron.progress import rich_progress


class Command(BaseCommand):
    help = (
        "Make the smaller WebP copies (srcset) of product pictures that have none, or were made from an older file. "
        "Uploads get them from a background job; this catches up pictures from before, or from a time with no worker."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=cast(TextIO, self.stdout._out), highlight=False, quiet=options["verbosity"] == 0)
        with rich_progress(console) as phase:
            done, unreadable = make_missing_renditions(phase)
        console.print(f"Made copies of {done:,} pictures; {unreadable:,} could not be read as pictures.")
