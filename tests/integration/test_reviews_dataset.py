"""Insights and moderation on the real Women's E-Commerce Clothing Reviews (skipped without the data set)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patron.reviews.evaluate import DATASET, _groups, load, main
from patron.reviews.moderation import check_text
from patron.reviews.themes import extract_themes

DATA = Path(os.environ.get("PATRON_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data")) / DATASET
pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"the reviews data set is not at {DATA}")


def test_themes_of_real_reviews_name_fit_and_quality() -> None:
    rows = load(DATA)
    themes = extract_themes(*_groups(rows), top=15)
    positive = [theme.phrase for theme in themes.positive]
    negative = [theme.phrase for theme in themes.negative]
    assert positive[0] == "true size" and "super soft" in positive
    assert negative[0] == "poor quality" and "runs small" in negative
    assert all(theme.share >= 0.01 for theme in themes.positive + themes.negative)


def test_the_check_holds_almost_no_honest_review() -> None:
    rows = [row for row in load(DATA) if row.text][:5000]
    held = [row for row in rows if check_text(row.title, row.text)]
    assert len(held) / len(rows) < 0.005


def test_the_evaluation_writes_its_report(tmp_path: Path) -> None:
    small = tmp_path / "reviews.csv"
    with DATA.open(encoding="utf-8") as source:
        small.write_text("".join(line for _, line in zip(range(3000), source, strict=False)), encoding="utf-8")
    out = tmp_path / "reviews.md"
    assert main([str(small), "--out", str(out)]) == 0
    report = out.read_text(encoding="utf-8")
    assert report.startswith("# Reviews: insights and moderation, evaluated")
    assert "## Are the themes real?" in report and "### What it catches" in report
    assert main([str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
