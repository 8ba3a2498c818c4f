"""`patron reindex`: rebuild prices, stock, attributes, the search index and the vocabulary of every product."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patron.catalog.services import rebuild_search_index


class Command(BaseCommand):
    help = "Rebuild the catalog's search index, vocabulary and derived product data."

    def handle(self, *args: Any, **options: Any) -> None:
        columns = (TextColumn("Indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, disable=options["verbosity"] == 0) as progress:
            task = progress.add_task("products", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            rebuild_search_index(report)
        if options["verbosity"]:
            self.stdout.write(self.style.SUCCESS("Search index rebuilt."))
