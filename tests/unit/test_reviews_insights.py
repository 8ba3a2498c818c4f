"""Theme extraction and the inline charts, on small hand-made inputs with known answers."""

from __future__ import annotations

from patron.reviews.charts import Point, bar_chart, line_chart
from patron.reviews.insights import extract_themes

POSITIVE = [
    "True to size and super soft fabric.",
    "Fits true to size, super soft, lovely colour.",
    "Super soft knit and it fits true to size.",
    "Great colour, super soft.",
]
NEGATIVE = [
    "Runs small and poor quality stitching.",
    "Poor quality, the seams came apart. Runs small.",
    "Runs small in the shoulders and the colour faded.",
    "Poor quality zipper.",
]


def test_themes_are_the_phrases_that_set_each_group_apart() -> None:
    themes = extract_themes(POSITIVE, NEGATIVE, top=3)
    positive = [theme.phrase for theme in themes.positive]
    negative = [theme.phrase for theme in themes.negative]
    assert positive[0] == "super soft" and "true size" in positive
    assert set(negative[:2]) == {"runs small", "poor quality"}
    assert not set(positive) & set(negative)
    soft = themes.positive[0]
    assert (soft.reviews, soft.share) == (4, 1.0)
    # Overlapping phrases are not listed twice ("fits true size" covers "fits true" and "true size").
    assert sum("true" in phrase for phrase in positive) == 1


def test_no_themes_without_both_groups() -> None:
    themes = extract_themes(POSITIVE, [])
    assert (themes.positive, themes.negative, themes.positive_reviews) == ([], [], 4)


def test_charts_are_escaped_svg() -> None:
    svg = line_chart([Point("Jan", 4.5), Point("Feb", None), Point("<Mar>", 3.0)], title="Rating", low=1, high=5)
    assert svg.startswith("<svg") and "<title>Rating</title>" in svg
    assert "&lt;Mar&gt;" in svg and "<Mar>" not in svg
    assert svg.count("<polyline") == 2  # the month without data leaves a gap
    bars = bar_chart([Point("runs small", 30, "54 reviews"), Point("poor <b>", 10)], title="Themes")
    assert bars.count("<rect") == 2 and "54 reviews" in bars and "poor &lt;b&gt;" in bars
    assert "No data yet." in line_chart([], title="x", low=0, high=1)
