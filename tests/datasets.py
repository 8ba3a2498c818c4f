"""The public data sets of ../shared/data that some tests read; a test skips, saying why, when one is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings


def online_retail_file() -> Path:
    folder = Path(os.environ.get("PATRON_DATA_DIR") or Path(settings.PROJECT_DIR).parent / "shared" / "data")
    path = folder / "interactions" / "online_retail_II_full_2009_2011.parquet"
    if not path.is_file():
        pytest.skip(f"Online Retail II is not at {path} (set PATRON_DATA_DIR to the shared data folder)")
    return path
