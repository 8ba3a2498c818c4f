"""Small inline SVG charts for the back-office (no script, no CDN): a line over months and horizontal bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 44
PAD_RIGHT = 16
PAD_TOP = 16
PAD_BOTTOM = 36
BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 200
INK = "#1d2327"
SOFT = "#52606d"
GRID = "#e2ddd5"
ACCENT = "#0f6e5c"


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None
    note: str = ""


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def line_chart(points: Sequence[Point], *, title: str, low: float, high: float, colour: str = ACCENT) -> SafeString:
    """A line through the points (None leaves a gap), with the axis from `low` to `high` and four grid lines."""
    if not points:
        return format_html('<p class="help">{}</p>', "No data yet.")
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / max(1, len(points) - 1)
    span = (high - low) or 1.0

    def x(index: int) -> float:
        return PAD_LEFT + (index * step if len(points) > 1 else inner_w / 2)

    def y(value: float) -> float:
        return PAD_TOP + inner_h * (1 - (value - low) / span)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'style="max-width:{WIDTH}px" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for tick in range(5):
        value = low + span * tick / 4
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{GRID}"/><text x="{PAD_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="{SOFT}">{escape(_number(value))}</text>'
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for index, point in enumerate(points):
        if point.value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(index):.1f},{y(point.value):.1f}")
    if segment:
        segments.append(segment)
    for line in segments:
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(line)}"/>')
    every = max(1, len(points) // 8)
    for index, point in enumerate(points):
        if point.value is not None:
            tip = escape(f"{point.label}: {_number(point.value)}{' · ' + point.note if point.note else ''}")
            parts.append(
                f'<circle cx="{x(index):.1f}" cy="{y(point.value):.1f}" r="3.5" fill="{colour}"><title>{tip}</title>'
                "</circle>"
            )
        if index % every == 0 or index == len(points) - 1:
            parts.append(
                f'<text x="{x(index):.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-size="11" '
                f'fill="{SOFT}">{escape(point.label)}</text>'
            )
    parts.append("</svg>")
    # Every piece of text above is escaped; the rest is markup built here.
    return mark_safe("".join(parts))  # noqa: S308


def bar_chart(rows: Sequence[Point], *, title: str, colour: str = ACCENT) -> SafeString:
    """Horizontal bars, longest first as given; each labelled with its value (and note)."""
    if not rows:
        return format_html('<p class="help">{}</p>', "No data yet.")
    largest = max((row.value or 0.0) for row in rows) or 1.0
    height = len(rows) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    room = WIDTH - LABEL_WIDTH - 90
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width:{WIDTH}px" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for index, row in enumerate(rows):
        top = BAR_GAP + index * (BAR_HEIGHT + BAR_GAP)
        width = max(2.0, room * (row.value or 0.0) / largest)
        value = escape(row.note or _number(row.value or 0.0))
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{top + BAR_HEIGHT * 0.7:.1f}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(row.label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{top}" width="{width:.1f}" height="{BAR_HEIGHT}" rx="3" fill="{colour}"/>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{top + BAR_HEIGHT * 0.7:.1f}" font-size="12" '
            f'fill="{SOFT}">{value}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308
