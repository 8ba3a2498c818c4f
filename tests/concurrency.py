"""Helpers for tests where many checkouts race: threads with their own connections, and a database they can share."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, connections

# Tests that open dozens of connections at once run in one test worker (`--dist loadgroup`), one after another,
# so that together they stay below the database server's connection limit.
race = pytest.mark.xdist_group("database-races")


def in_threads[T](count: int, work: Callable[[], T]) -> list[T]:
    """Run `work` in `count` threads released at the same moment, each on its own database connection."""
    start = threading.Barrier(count)

    def run() -> T:
        try:
            start.wait()
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [future.result() for future in futures]


@contextmanager
def own_database_file(tmp_path: Path) -> Iterator[None]:
    """On SQLite, let new connections use a file copy of the test database.

    The test database lives in shared-cache memory, where a busy writer makes others fail at once with
    "table is locked" instead of queueing; a store runs on a file, where writers wait their turn.
    """
    if connection.vendor != "sqlite":
        yield
        return
    target = tmp_path / "race.sqlite3"
    with sqlite3.connect(target) as copy:
        connection.ensure_connection()
        connection.connection.backup(copy)
    settings_dict = connections.settings["default"]
    in_memory = settings_dict["NAME"]
    settings_dict["NAME"] = str(target)
    try:
        yield
    finally:
        settings_dict["NAME"] = in_memory
