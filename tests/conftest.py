"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Rate limits, token revocations and page caches never leak from one test into another."""
    cache.clear()
    yield
    cache.clear()
