"""The automatic spam and abuse check: a kept word list plus heuristics that spot spam's usual shapes.

`check_text` returns the reasons to hold a text for a person (an empty list lets it through). It errs towards
letting honest reviews through, including angry ones: `docs/reviews.md` measures how many of 23,000 real
clothing reviews it holds, and the tests pin what it must catch.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

TERMS_FILE = Path(__file__).with_name("data") / "blocked_terms.txt"

LINK = "link"
CONTACT = "contact_details"
REPEATED_CHARACTERS = "repeated_characters"
ALL_CAPS = "all_caps"
REPETITION = "repetition"

# Look-alike characters used to slip words past filters.
_LOOKALIKES = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
# A bare domain needs a top-level domain that is not also an English word ("this.top", "it is.comfy").
_URL = re.compile(r"https?://|\bwww\.|\b[a-z0-9-]{2,}\.(?:com|net|org|ru|info|biz|xyz|shop)\b(?![.-]?[a-z])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_PHONE = re.compile(r"\+?\(?\b\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,5}\b")
# Ten or more of one character, separators ("....", "____") aside: "Soooo good" is enthusiasm, not spam.
_STRETCH = re.compile(r"([^\s._\-=*~])\1{9,}")
_SPACED_LETTERS = re.compile(r"\b(?:[a-z][\s.*_-]){2,}[a-z]\b")
_WORD = re.compile(r"[a-z]+")
MIN_LETTERS_FOR_CAPS = 20
CAPS_SHARE = 0.8
MIN_WORDS_FOR_REPETITION = 20
REPEATED_WORD_SHARE = 0.5
REPEATED_RUN = 8  # "Love love love. Love, love, love this top" is praise


@dataclass(frozen=True)
class Terms:
    """Section name -> whole words/phrases and prefixes, all normalized like the texts they are matched in."""

    exact: dict[str, frozenset[str]]
    prefixes: dict[str, tuple[str, ...]]


def _squeezed(word: str) -> set[str]:
    """A stretched word ("fuuuuck", "asssss") read with its runs cut to one and to two letters."""
    return {re.sub(r"(.)\1{2,}", r"\1", word), re.sub(r"(.)\1{2,}", r"\1\1", word)}


@cache
def load_terms(path: Path = TERMS_FILE) -> Terms:
    exact: dict[str, set[str]] = {}
    prefixes: dict[str, list[str]] = {}
    section = "blocked"
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().lower()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if line.endswith("*"):
            prefixes.setdefault(section, []).append(line[:-1])
        else:
            exact.setdefault(section, set()).add(" ".join(_WORD.findall(line)))
    return Terms(
        exact={name: frozenset(words) for name, words in exact.items()},
        prefixes={name: tuple(words) for name, words in prefixes.items()},
    )


def _normalized_words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = plain.translate(_LOOKALIKES)
    # "f u c k" and "f.u.c.k" are one word.
    plain = _SPACED_LETTERS.sub(lambda match: re.sub(r"[\s.*_-]", "", match.group()), plain)
    return _WORD.findall(plain)


def _blocked_sections(words: list[str], terms: Terms) -> list[str]:
    variants = [_squeezed(word) for word in words]
    found: list[str] = []
    for section, phrases in terms.exact.items():
        lengths = {phrase.count(" ") + 1 for phrase in phrases}
        for size in lengths:
            for start in range(len(words) - size + 1):
                candidates = variants[start] if size == 1 else {" ".join(words[start : start + size])}
                if candidates & phrases:
                    found.append(section)
                    break
            if section in found:
                break
    for section, starts in terms.prefixes.items():
        if section not in found and any(
            variant.startswith(starts) for word_variants in variants for variant in word_variants
        ):
            found.append(section)
    return found


def _shape_flags(text: str, words: list[str]) -> list[str]:
    flags = []
    lowered = text.lower()
    if _URL.search(lowered):
        flags.append(LINK)
    if _EMAIL.search(text) or _PHONE.search(text):
        flags.append(CONTACT)
    if _STRETCH.search(re.sub(r"\s", "", text)):
        flags.append(REPEATED_CHARACTERS)
    letters = [char for char in text if char.isalpha()]
    if len(letters) >= MIN_LETTERS_FOR_CAPS and sum(char.isupper() for char in letters) / len(letters) > CAPS_SHARE:
        flags.append(ALL_CAPS)
    if _is_repetitive(words):
        flags.append(REPETITION)
    return flags


def _is_repetitive(words: list[str]) -> bool:
    run = 1
    for previous, word in pairwise(words):
        run = run + 1 if word == previous else 1
        if run >= REPEATED_RUN:
            return True
    if len(words) < MIN_WORDS_FOR_REPETITION:
        return False
    most = max(words.count(word) for word in set(words))
    return most / len(words) > REPEATED_WORD_SHARE


def check_text(*parts: str) -> list[str]:
    """Why these texts (a title and a comment, say) should wait for a person; [] when they look fine."""
    text = "\n".join(part for part in parts if part)
    if not text.strip():
        return []
    words = _normalized_words(text)
    return _blocked_sections(words, load_terms()) + _shape_flags(text, words)
