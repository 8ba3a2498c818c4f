"""Themes of reviews: the key phrases that come up most in positive and in negative reviews.

Themes are phrases of two or three words (such as "runs small" or "poor quality") weighed with TF-IDF: a phrase
is a theme of the positive reviews when it is frequent there and weighs clearly more there than in the negative
ones (and the other way round). Phrases that are pieces of a better-scoring one are dropped, so "true size" does
not also yield "fits true". Plain functions on texts, so the evaluation (`python -m patron.reviews.evaluate`, see
`docs/reviews.md`) runs the very code the back-office does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

POSITIVE = frozenset({4, 5})
NEGATIVE = frozenset({1, 2})
# Words that say how good something is rather than what it is about; they would top every list.
RATING_WORDS = frozenset(
    {
        "love",
        "loved",
        "great",
        "good",
        "like",
        "nice",
        "bad",
        "really",
        "just",
        "did",
        "does",
        "got",
        "bought",
        "ordered",
        "wear",
        "wearing",
        "product",
        "item",
        "wanted",
        "think",
        "overall",
        "definitely",
        "absolutely",
        "it's",
        "i'm",
        "i've",
    }
)
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | RATING_WORDS)
WORD_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z']+\b"
MIN_SHARE = 0.01


@dataclass(frozen=True)
class Theme:
    phrase: str
    reviews: int  # reviews of the group that mention it
    share: float  # of the group's reviews
    weight: float  # how much more it weighs in this group than in the other


@dataclass(frozen=True)
class Themes:
    positive: list[Theme]
    negative: list[Theme]
    positive_reviews: int
    negative_reviews: int


def _vectorizer(min_df: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        # Single words are mostly verdicts ("perfect", "disappointed"); pairs and triples name what it is about.
        ngram_range=(2, 3),
        stop_words=STOP_WORDS,
        token_pattern=WORD_PATTERN,
        min_df=min_df,
        max_df=0.5,
        sublinear_tf=True,
        max_features=50_000,
    )


def _overlap(first: str, second: str) -> bool:
    """Whether two phrases are pieces of one: one inside the other, or one running on into the other
    ("fits true" and "true size" are both "fits true size")."""
    if f" {first} " in f" {second} " or f" {second} " in f" {first} ":
        return True
    a, b = first.split(), second.split()
    return any(a[-k:] == b[:k] or b[-k:] == a[:k] for k in range(1, min(len(a), len(b))))


def _top(
    phrases: np.ndarray, weight: np.ndarray, present: np.ndarray, group_size: int, top: int, min_reviews: int
) -> list[Theme]:
    chosen: list[Theme] = []
    for index in np.argsort(-weight):
        if weight[index] <= 0 or len(chosen) >= top:
            break
        count = int(present[index])
        if count < min_reviews:
            continue
        phrase = str(phrases[index])
        if len(set(phrase.split())) == 1:  # "dress dress", from a title and a text run together
            continue
        if any(_overlap(kept.phrase, phrase) for kept in chosen):
            continue
        chosen.append(Theme(phrase, count, count / group_size, float(weight[index])))
    return chosen


def extract_themes(positive: Sequence[str], negative: Sequence[str], *, top: int = 10) -> Themes:
    """The top themes of each group of review texts."""
    texts = [*positive, *negative]
    if not positive or not negative:
        return Themes([], [], len(positive), len(negative))
    min_df = 2 if len(texts) < 200 else 3
    vectorizer = _vectorizer(min_df)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left after the stop words
        return Themes([], [], len(positive), len(negative))
    phrases = vectorizer.get_feature_names_out()
    split = len(positive)
    pos, neg = matrix[:split], matrix[split:]
    pos_mean = np.asarray(pos.mean(axis=0)).ravel()
    neg_mean = np.asarray(neg.mean(axis=0)).ravel()
    pos_present = np.asarray((pos > 0).sum(axis=0)).ravel()
    neg_present = np.asarray((neg > 0).sum(axis=0)).ravel()

    def minimum(size: int) -> int:
        return max(2, int(size * MIN_SHARE))

    return Themes(
        positive=_top(phrases, pos_mean - neg_mean, pos_present, split, top, minimum(split)),
        negative=_top(phrases, neg_mean - pos_mean, neg_present, len(negative), top, minimum(len(negative))),
        positive_reviews=split,
        negative_reviews=len(negative),
    )


def review_text(title: str, comment: str) -> str:
    """A review as one text: its title reads as a first sentence."""
    return f"{title}. {comment}" if title else comment


def phrase_reader() -> Callable[[str], list[str]]:
    """The phrases theme extraction sees in a text, to check where themes are mentioned."""
    return _vectorizer(1).build_analyzer()
