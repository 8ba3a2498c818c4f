"""Measuring the assistant's understanding on public data sets (`patron support evaluate`).

- Bitext customer-support utterances (27 intents; the intents file uses the same names for them): the shipped
  model, trained only on the intents file, is scored on every Bitext utterance. A second figure trains on the
  intents file plus a stratified 70% of Bitext and scores the held-out 30% (what a merchant gets by adding their own
  transcripts to the file).
- Out of scope: CLINC150's out-of-scope utterances from its `oos_val` and `oos_test` splits (never trained on) must
  be refused; precision counts how many refusals were right across those and the Bitext utterances.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from sklearn.metrics import accuracy_score, f1_score

from patron.errors import NotFound
from patron.support.assistant.intents import OUT_OF_SCOPE, load_intents
from patron.support.assistant.nlu import IntentClassifier, Prediction, classifier, train


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    count: int


@dataclass(frozen=True)
class OutOfScopeScores:
    precision: float
    recall: float
    in_scope_accuracy: float
    oos_count: int
    in_scope_count: int


@dataclass(frozen=True)
class Report:
    shipped: Scores
    split: Scores | None
    out_of_scope: OutOfScopeScores | None
    threshold: float


def data_dir(path: str | Path | None = None) -> Path:
    """The public data folder: the argument, PATRON_DATA_DIR, or ../shared/data beside the project."""
    if path:
        return Path(path)
    if os.environ.get("PATRON_DATA_DIR"):
        return Path(os.environ["PATRON_DATA_DIR"])
    return Path(settings.PROJECT_DIR).parent / "shared" / "data"


def load_bitext(folder: Path) -> list[tuple[str, str]]:
    """Every distinct (utterance, intent) pair of the Bitext CSV files in `folder`."""
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise NotFound(f"No Bitext CSV files in {folder}.")
    pairs: dict[tuple[str, str], None] = {}
    for file in files:
        with file.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                text = (row.get("instruction") or "").strip()
                if text and row.get("intent"):
                    pairs[(text, row["intent"])] = None
    return list(pairs)


def load_clinc_oos(folder: Path) -> list[str]:
    """CLINC150's held-out out-of-scope utterances (`oos_val` and `oos_test` of data_full.json)."""
    file = folder / "data_full.json"
    if not file.exists():
        raise NotFound(f"No CLINC150 data_full.json in {folder}.")
    data = json.loads(file.read_text(encoding="utf-8"))
    return [text for split in ("oos_val", "oos_test") for text, _label in data[split]]


def decide(prediction: Prediction, threshold: float) -> str:
    """The intent the assistant acts on; below the threshold it treats the request as not understood."""
    if prediction.confidence < threshold:
        return OUT_OF_SCOPE
    return prediction.intent


def score(model: IntentClassifier, pairs: Sequence[tuple[str, str]], threshold: float) -> Scores:
    predictions = model.predict_many([text for text, _ in pairs])
    expected = [intent for _, intent in pairs]
    predicted = [decide(prediction, threshold) for prediction in predictions]
    return Scores(
        accuracy=float(accuracy_score(expected, predicted)),
        macro_f1=float(f1_score(expected, predicted, average="macro", labels=sorted(set(expected)))),
        count=len(pairs),
    )


def split(pairs: Sequence[tuple[str, str]], share: float = 0.7, seed: int = 7) -> tuple[list, list]:
    """A stratified split: `share` of each intent's utterances for training, the rest held out."""
    by_intent: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pair in pairs:
        by_intent[pair[1]].append(pair)
    rng = random.Random(seed)
    train_part: list[tuple[str, str]] = []
    held_out: list[tuple[str, str]] = []
    for intent in sorted(by_intent):
        items = sorted(by_intent[intent])
        rng.shuffle(items)
        cut = round(len(items) * share)
        train_part.extend(items[:cut])
        held_out.extend(items[cut:])
    return train_part, held_out


def out_of_scope_scores(
    model: IntentClassifier, oos: Sequence[str], in_scope: Sequence[tuple[str, str]], threshold: float
) -> OutOfScopeScores:
    oos_refused = sum(decide(prediction, threshold) == OUT_OF_SCOPE for prediction in model.predict_many(list(oos)))
    in_predictions = [decide(prediction, threshold) for prediction in model.predict_many([t for t, _ in in_scope])]
    wrongly_refused = sum(intent == OUT_OF_SCOPE for intent in in_predictions)
    correct = sum(predicted == expected for predicted, (_, expected) in zip(in_predictions, in_scope, strict=True))
    refused = oos_refused + wrongly_refused
    return OutOfScopeScores(
        precision=oos_refused / refused if refused else 0.0,
        recall=oos_refused / len(oos) if oos else 0.0,
        in_scope_accuracy=correct / len(in_scope) if in_scope else 0.0,
        oos_count=len(oos),
        in_scope_count=len(in_scope),
    )


def evaluate(folder: Path, *, with_split: bool = True, progress: Callable[[str], None] | None = None) -> Report:
    """All figures of `patron support evaluate` for the data sets under `folder`."""
    say = progress or (lambda message: None)
    threshold = settings.SUPPORT_CONFIDENCE_THRESHOLD
    bitext = load_bitext(folder / "support" / "bitext")
    say(f"Bitext: {len(bitext)} utterances")
    shipped_model = classifier()
    shipped = score(shipped_model, bitext, threshold)
    split_scores = None
    if with_split:
        train_part, held_out = split(bitext)
        say(f"Training on the intents file + {len(train_part)} Bitext utterances")
        extended = train(load_intents(), ([t for t, _ in train_part], [i for _, i in train_part]))
        split_scores = score(extended, held_out, threshold)
    oos_scores = None
    clinc = folder / "support" / "clinc150"
    if clinc.exists():
        oos = load_clinc_oos(clinc)
        say(f"CLINC150 out-of-scope: {len(oos)} utterances")
        oos_scores = out_of_scope_scores(shipped_model, oos, bitext, threshold)
    return Report(shipped=shipped, split=split_scores, out_of_scope=oos_scores, threshold=threshold)
