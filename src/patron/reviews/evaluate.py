"""Evaluate review insights and moderation on the Women's E-Commerce Clothing Reviews set; writes docs/reviews.md.

    uv run python -m patron.reviews.evaluate [path/to/womens_clothing_ecommerce_reviews.csv] [--out docs/reviews.md]

The path defaults to $PATRON_DATA_DIR/reviews/womens_clothing_ecommerce_reviews.csv (PATRON_DATA_DIR defaults to
../shared/data). Everything is seeded, so two runs give the same report.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from patron.reviews.moderation import check_text
from patron.reviews.themes import NEGATIVE, POSITIVE, Theme, extract_themes, phrase_reader, review_text

DATASET = Path("reviews") / "womens_clothing_ecommerce_reviews.csv"
TOP = 15
TOP_FEW = 5
SEEDS = (7, 11, 23)
INJECTED_SAMPLE = 1000
DEPARTMENTS = ("Dresses", "Tops", "Bottoms", "Jackets", "Intimate")


@dataclass(frozen=True)
class Row:
    rating: int
    title: str
    text: str
    recommended: bool
    department: str

    @property
    def full_text(self) -> str:
        return review_text(self.title, self.text)


def default_path() -> Path:
    return Path(os.environ.get("PATRON_DATA_DIR", "../shared/data")) / DATASET


def load(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Row(
                rating=int(record["Rating"]),
                title=record["Title"].strip(),
                text=record["Review Text"].strip(),
                recommended=record["Recommended IND"] == "1",
                department=record["Department Name"],
            )
            for record in csv.DictReader(handle)
        ]


def _groups(rows: Sequence[Row]) -> tuple[list[str], list[str]]:
    positive = [row.full_text for row in rows if row.rating in POSITIVE and row.text]
    negative = [row.full_text for row in rows if row.rating in NEGATIVE and row.text]
    return positive, negative


@dataclass(frozen=True)
class Validity:
    positive_precision: float  # of held-out reviews mentioning a positive theme, the share rated 4-5
    negative_precision: float  # of held-out reviews mentioning a negative theme, the share rated 1-2
    positive_base: float
    negative_base: float
    negative_not_recommended: float  # of held-out reviews mentioning a negative theme, the share not recommending
    not_recommended_base: float


def _validity(themes_pos: list[Theme], themes_neg: list[Theme], test: Sequence[Row]) -> Validity:
    rows = [row for row in test if row.text]
    read = phrase_reader()
    mentioned = [set(read(row.full_text)) for row in rows]
    pos_phrases = {theme.phrase for theme in themes_pos}
    neg_phrases = {theme.phrase for theme in themes_neg}
    with_pos = [row for row, found in zip(rows, mentioned, strict=True) if found & pos_phrases]
    with_neg = [row for row, found in zip(rows, mentioned, strict=True) if found & neg_phrases]

    def share(subset: Sequence[Row], test_row: Callable[[Row], bool]) -> float:
        return sum(test_row(row) for row in subset) / len(subset) if subset else 0.0

    return Validity(
        positive_precision=share(with_pos, lambda row: row.rating in POSITIVE),
        negative_precision=share(with_neg, lambda row: row.rating in NEGATIVE),
        positive_base=share(rows, lambda row: row.rating in POSITIVE),
        negative_base=share(rows, lambda row: row.rating in NEGATIVE),
        negative_not_recommended=share(with_neg, lambda row: not row.recommended),
        not_recommended_base=share(rows, lambda row: not row.recommended),
    )


def _halves(rows: Sequence[Row], seed: int) -> tuple[list[Row], list[Row]]:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    middle = len(shuffled) // 2
    return shuffled[:middle], shuffled[middle:]


INJECTIONS: dict[str, Callable[[str], str]] = {
    "a link": lambda text: f"{text} More styles at www.cheap-dresses.xyz",
    "profanity": lambda text: f"{text} This is fucking great.",
    "abuse at people": lambda text: f"{text} The staff are idiots.",
    "spelled-out profanity (f u c k)": lambda text: f"{text} f u c k the shipping.",
    "look-alike characters (sh1t)": lambda text: f"{text} Sh1t stitching.",
    "a phone number": lambda text: f"{text} Text me on +1 415 555 0199 for a discount.",
    "spam phrase (dm me on whatsapp)": lambda text: f"{text} dm me on whatsapp for wholesale prices",
    "all capitals": str.upper,
}


def _shared(first: Sequence[Theme], second: Sequence[Theme], top: int) -> int:
    return len({theme.phrase for theme in first[:top]} & {theme.phrase for theme in second[:top]})


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def report(rows: list[Row], path: Path) -> str:
    out: list[str] = []
    with_text = [row for row in rows if row.text]
    ratings = Counter(row.rating for row in with_text)
    positive, negative = _groups(rows)
    out += [
        "# Reviews: insights and moderation, evaluated",
        "",
        "Generated by `uv run python -m patron.reviews.evaluate` from "
        f"`{path.name}` (Women's E-Commerce Clothing Reviews, CC0): {len(rows):,} reviews, {len(with_text):,} with "
        "text. The back-office insights page (Reviews > Insights) and the automatic moderation of new reviews run "
        "the same code (`patron.reviews.insights`, `patron.reviews.moderation`).",
        "",
        "Ratings of the reviews with text: "
        + ", ".join(
            f"{stars}★ {ratings[stars]:,} ({_percent(ratings[stars] / len(with_text))})" for stars in range(1, 6)
        )
        + ".",
        "",
        "## Themes of positive and negative reviews",
        "",
        "Key phrases of two or three words, TF-IDF weighted; a phrase is a theme of one group when its mean weight "
        "there exceeds its mean weight in the other group by the most (4-5★ against 1-2★; 3★ reviews are left out). "
        "Phrases mentioned by fewer than 1% of a group's reviews are ignored, and phrases that are pieces of a better "
        "one are dropped. Share = reviews of the group that mention the phrase.",
        "",
    ]
    started = time.perf_counter()
    themes = extract_themes(positive, negative, top=TOP)
    elapsed = time.perf_counter() - started
    out += _table(
        ["#", "positive (4-5★)", "share", "negative (1-2★)", "share"],
        [
            (
                index + 1,
                themes.positive[index].phrase if index < len(themes.positive) else "",
                _percent(themes.positive[index].share) if index < len(themes.positive) else "",
                themes.negative[index].phrase if index < len(themes.negative) else "",
                _percent(themes.negative[index].share) if index < len(themes.negative) else "",
            )
            for index in range(TOP)
        ],
    )
    out += [
        "",
        f"{len(positive):,} positive and {len(negative):,} negative reviews; extraction took {elapsed:.1f} s on one "
        "core (the back-office uses at most the newest 5,000 reviews per group and caches the result until a review "
        "changes).",
        "",
        "### Per department: what the negative reviews are about",
        "",
    ]
    department_rows = []
    for department in DEPARTMENTS:
        subset = [row for row in rows if row.department == department]
        pos, neg = _groups(subset)
        found = extract_themes(pos, neg, top=5)
        department_rows.append(
            (department, f"{len(neg):,}", ", ".join(f"{t.phrase} ({_percent(t.share)})" for t in found.negative))
        )
    out += _table(["department", "negative reviews", "top negative themes"], department_rows)

    out += [
        "",
        "## Are the themes real?",
        "",
        "Two checks on random halves of the data (seeds " + ", ".join(map(str, SEEDS)) + "):",
        "",
        "- **Stability**: themes extracted from each half separately; how many of the top "
        f"{TOP} (and top {TOP_FEW}) of one half are also among those of the other.",
        "- **Held-out validity**: themes extracted from one half only; among the reviews of the *other* half that "
        "mention a positive theme, the share rated 4-5★ (and likewise for negative themes and 1-2★), against the "
        "share in all reviews of that half. A theme list that only reflected noise would sit at the base rate.",
        "",
    ]
    stability_rows = []
    validity_rows = []
    for seed in SEEDS:
        first, second = _halves(rows, seed)
        a = extract_themes(*_groups(first), top=TOP)
        b = extract_themes(*_groups(second), top=TOP)
        stability_rows.append(
            (
                seed,
                f"{_shared(a.positive, b.positive, TOP)}/{TOP}",
                f"{_shared(a.positive, b.positive, TOP_FEW)}/{TOP_FEW}",
                f"{_shared(a.negative, b.negative, TOP)}/{TOP}",
                f"{_shared(a.negative, b.negative, TOP_FEW)}/{TOP_FEW}",
            )
        )
        valid = _validity(a.positive, a.negative, second)
        validity_rows.append(
            (
                seed,
                f"{_percent(valid.positive_precision)} (base {_percent(valid.positive_base)})",
                f"{_percent(valid.negative_precision)} (base {_percent(valid.negative_base)})",
                f"{_percent(valid.negative_not_recommended)} (base {_percent(valid.not_recommended_base)})",
            )
        )
    out += _table(
        [
            "seed",
            f"positive, top {TOP}",
            f"positive, top {TOP_FEW}",
            f"negative, top {TOP}",
            f"negative, top {TOP_FEW}",
        ],
        stability_rows,
    )
    out += [
        "",
        "The positive list is stable. The negative one is stable at the top and noisy below it: each half has only "
        "about 1,200 negative reviews, and a phrase mentioned by 1% of them is about a dozen reviews, so the lower "
        "ranks trade places between halves. On a product's page of the back-office, with fewer reviews still, read "
        "the first few themes and the share beside each.",
        "",
    ]
    out += [""]
    out += _table(
        [
            "seed",
            "mentions a positive theme → rated 4-5★",
            "mentions a negative theme → rated 1-2★",
            "mentions a negative theme → not recommended",
        ],
        validity_rows,
    )

    out += [
        "",
        "## Moderation: the spam and abuse check on real reviews",
        "",
        "Every review (title and text) through `check_text`, exactly as a new review is checked. These are genuine "
        "customer reviews, so whatever is held is, nearly always, an honest review held by mistake: the share held "
        "is the cost of the check to merchants (they approve those by hand).",
        "",
    ]
    started = time.perf_counter()
    flags = [check_text(row.title, row.text) for row in with_text]
    checked = time.perf_counter() - started
    held = sum(bool(found) for found in flags)
    by_flag = Counter(flag for found in flags for flag in found)
    out += [
        f"Held: **{held:,} of {len(with_text):,} ({100 * held / len(with_text):.2f}%)**; "
        f"{len(with_text) / checked:,.0f} reviews checked per second.",
        "",
        "Mind that the word list and the thresholds were adjusted once after a first run of this evaluation: it held "
        '0.9%, mostly stretched words ("soooooo cute"), ellipses and phrases such as "buy now" and "work from '
        'home" used honestly. These figures are therefore on the data the check was tuned on.',
        "",
    ]
    out += _table(["reason", "reviews"], by_flag.most_common())
    out += [
        "",
        "Some of the held reviews, to judge the reasons (first 90 characters):",
        "",
    ]
    examples = [(found, row) for found, row in zip(flags, with_text, strict=True) if found][:8]
    out += [f"- {', '.join(found)}: “{row.full_text[:90]}…”" for found, row in examples]
    out += [
        "",
        "### What it catches",
        "",
        f"{INJECTED_SAMPLE:,} random reviews that pass the check, each with one kind of spam or abuse added; the "
        "share now held:",
        "",
    ]
    clean = [row for row, found in zip(with_text, flags, strict=True) if not found]
    sample = random.Random(SEEDS[0]).sample(clean, min(INJECTED_SAMPLE, len(clean)))
    caught_rows = []
    for name, inject in INJECTIONS.items():
        caught = sum(bool(check_text(inject(row.full_text))) for row in sample)
        caught_rows.append((name, _percent(caught / len(sample))))
    out += _table(["added to an honest review", "held"], caught_rows)
    out += [
        "",
        "## Rating trend",
        "",
        "The data set has no dates, so the monthly rating trend (average and number of published reviews per "
        "calendar month, months without reviews shown as gaps) is checked by the tests with dated reviews "
        "(`tests/integration/test_reviews_backoffice.py`).",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("csv", nargs="?", type=Path, default=None, help="the reviews CSV")
    parser.add_argument("--out", type=Path, default=Path("docs/reviews.md"))
    args = parser.parse_args(argv)
    path: Path = args.csv or default_path()
    if not path.exists():
        print(f"No data set at {path}: pass its path or set PATRON_DATA_DIR.", file=sys.stderr)
        return 2
    text = report(load(path), path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
