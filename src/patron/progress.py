"""Progress reporting for long steps, without tying the code that does the work to a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress


class Progress(Protocol):
    """Opens a named phase of `total` steps; the context gives a function that reports steps done."""

    def __call__(self, description: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


@contextmanager
def silent_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    yield lambda steps: None


@contextmanager
def rich_progress(console: Console) -> Iterator[Progress]:
    """Progress bars on `console`, one per phase, each left complete when its phase ends."""
    with RichProgress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:

        @contextmanager
        def phase(description: str, total: int) -> Iterator[Callable[[int], None]]:
            task = bar.add_task(description, total=total)
            yield lambda steps: bar.advance(task, steps)
            bar.update(task, completed=total)

        yield phase
