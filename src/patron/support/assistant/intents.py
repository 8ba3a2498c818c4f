"""The intents file: what shoppers ask, as example phrases in a short pattern language a merchant can extend.

Patterns: `(a|b)` one alternative, `(a|b)?` or `[a]` optional, `{ask}` one of the file's request frames,
`{order}` / `{amount}` / `{email}` a sample entity. Each pattern expands to at most `per_pattern` phrases, sampled
with a fixed seed so the same file always trains the same model.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from patron.errors import ValidationFailed

DEFAULT_INTENTS_FILE = Path(__file__).resolve().parent.parent / "data" / "intents.yaml"
OUT_OF_SCOPE = "out_of_scope"
KNOWLEDGE = "knowledge"
MESSAGE = "message"
PER_PATTERN = 60

# Entities look like the ones shoppers paste: store order numbers, long digit runs, amounts in a few notations.
SAMPLE_ENTITIES: dict[str, tuple[str, ...]] = {
    "order": ("T000123", "KX7QM2RT9A", "12345678", "00123842", "113542617735902", "ABCD234567", "4587345"),
    "amount": ("$160", "35 dollars", "€20.50", "100", "$1,299", "12 euros", "£40"),
    "email": ("jane@example.com", "sam.lee@mail.com"),
}


@dataclass(frozen=True)
class Intent:
    name: str
    handler: str
    examples: tuple[str, ...]
    query: str = ""
    reply: str = ""


@dataclass(frozen=True)
class IntentBook:
    intents: dict[str, Intent]
    frames: dict[str, tuple[str, ...]] = field(default_factory=dict)
    digest: str = ""

    def training_set(self, per_pattern: int = PER_PATTERN) -> tuple[list[str], list[str]]:
        """Every intent's expanded phrases with their labels, deduplicated, in a stable order."""
        texts: list[str] = []
        labels: list[str] = []
        seen: set[tuple[str, str]] = set()
        for intent in self.intents.values():
            for pattern in intent.examples:
                rng = random.Random(f"{intent.name}:{pattern}")
                for phrase in expand(pattern, self.frames, rng=rng, limit=per_pattern):
                    if (phrase, intent.name) not in seen:
                        seen.add((phrase, intent.name))
                        texts.append(phrase)
                        labels.append(intent.name)
        return texts, labels


_TOKEN = re.compile(r"\(|\)\??|\[|\]|\||\{[a-z_]+\}|[^()\[\]|{}]+|[{}]")


def _parse(pattern: str) -> list[Any]:
    """A pattern as a sequence of strings and alternatives (lists of sequences)."""
    tokens = _TOKEN.findall(pattern)
    position = 0

    def sequence(closing: set[str]) -> list[Any]:
        nonlocal position
        items: list[Any] = []
        while position < len(tokens) and tokens[position] not in closing and tokens[position] != "|":
            token = tokens[position]
            position += 1
            if token in ("(", "["):
                options = [sequence({")", ")?", "]"})]
                while position < len(tokens) and tokens[position] == "|":
                    position += 1
                    options.append(sequence({")", ")?", "]"}))
                end = tokens[position] if position < len(tokens) else ""
                position += 1
                if token == "[" or end == ")?":  # noqa: S105 (a pattern token)
                    options.append([])
                items.append(options)
            else:
                items.append(token)
        return items

    return sequence(set())


def _sequences(items: list[Any], frames: dict[str, tuple[str, ...]]) -> list[list[list[str]]]:
    """For each position of a parsed pattern, the texts it may take."""
    choices: list[list[list[str]]] = []
    for item in items:
        if isinstance(item, str):
            slot = item[1:-1] if item.startswith("{") and item.endswith("}") else None
            if slot in frames:
                # A frame is itself a pattern (without frames of its own).
                choices.append([option for frame in frames[slot] for option in _flatten(_parse(frame), {})])
            elif slot in SAMPLE_ENTITIES:
                choices.append([[value] for value in SAMPLE_ENTITIES[slot]])
            else:
                choices.append([[item]])
        else:
            options: list[list[str]] = []
            for option in item:
                options.extend(_flatten(option, frames))
            choices.append(options)
    return choices


def _flatten(items: list[Any], frames: dict[str, tuple[str, ...]]) -> list[list[str]]:
    return [list(itertools.chain.from_iterable(combo)) for combo in itertools.product(*_sequences(items, frames))]


def _clean(parts: list[str]) -> str:
    return " ".join("".join(parts).split()).strip()


def expand(pattern: str, frames: dict[str, tuple[str, ...]], *, rng: random.Random, limit: int) -> list[str]:
    """The phrases a pattern stands for: all of them when few, else `limit` sampled with `rng`."""
    choices = _sequences(_parse(pattern), frames)
    total = 1
    for options in choices:
        total *= max(1, len(options))
    if total <= limit:
        phrases = [_clean(list(itertools.chain.from_iterable(combo))) for combo in itertools.product(*choices)]
    else:
        phrases = [
            _clean(list(itertools.chain.from_iterable(rng.choice(options) for options in choices)))
            for _ in range(limit)
        ]
    return list(dict.fromkeys(phrase for phrase in phrases if phrase))


def intents_path() -> Path:
    return Path(settings.SUPPORT_INTENTS_FILE) if settings.SUPPORT_INTENTS_FILE else DEFAULT_INTENTS_FILE


def parse_book(text: str) -> IntentBook:
    """An intents file's content; a malformed file is refused with the intent at fault."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise ValidationFailed("The intents file needs an `intents:` mapping.")
    frames = {str(name): tuple(str(frame) for frame in values) for name, values in (data.get("frames") or {}).items()}
    intents: dict[str, Intent] = {}
    for name, spec in data["intents"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("examples"), list) or not spec["examples"]:
            raise ValidationFailed(f"Intent {name!r} needs a list of examples.", fields={str(name): ["No examples."]})
        handler = str(spec.get("handler") or KNOWLEDGE)
        intents[str(name)] = Intent(
            name=str(name),
            handler=handler,
            examples=tuple(str(example) for example in spec["examples"]),
            query=str(spec.get("query") or ""),
            reply=str(spec.get("reply") or ""),
        )
    return IntentBook(intents=intents, frames=frames, digest=hashlib.sha256(text.encode()).hexdigest())


@cache
def _load(path: str, mtime_ns: int) -> IntentBook:
    return parse_book(Path(path).read_text(encoding="utf-8"))


def load_intents(path: Path | None = None) -> IntentBook:
    """The intents file (SUPPORT_INTENTS_FILE or the shipped one), parsed once per version of the file."""
    path = path or intents_path()
    return _load(str(path), path.stat().st_mtime_ns)
