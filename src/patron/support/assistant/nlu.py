"""Understanding a shopper's message: entities (order numbers, emails, amounts), intent with a confidence, sentiment.

Intent recognition is a logistic regression over two views of the text: WordLlama sentence embeddings (a static
256-d model shipped inside the `wordllama` package, loaded offline) for meaning, and TF-IDF of words and character
n-grams for wording and typos. Entities are replaced by placeholder words first, so "cancel order 113542617735902"
and "cancel order KX7QM2RT9A" look alike to the model. The model is trained from the intents file and cached on disk
under a name made of the file's digest and `MODEL_VERSION`; editing the file retrains it on next use (seconds).
"""

from __future__ import annotations

import logging
import pickle
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from patron.support.assistant.intents import IntentBook, load_intents

logger = logging.getLogger(__name__)

# Part of the cache file name: bump it whenever training changes (features, pattern expansion), or old caches stay.
MODEL_VERSION = "2"
EMBEDDING_WEIGHT = 2.0

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A currency sign or word next to a number: "$160", "35 dollars", "12.50 EUR", "under 100".
AMOUNT = re.compile(
    r"(?:(?P<sign>[$€£])\s?(?P<a>\d[\d,]*(?:\.\d{1,2})?))"
    r"|(?:(?P<b>\d[\d,]*(?:\.\d{1,2})?)\s?(?P<word>dollars?|usd|euros?|eur|pounds?|gbp|bucks)\b)"
    r"|(?:\b(?P<bound>under|below|less than|cheaper than|up to|max|maximum)\s+(?P<c>\d[\d,]*(?:\.\d{1,2})?)\b)",
    re.IGNORECASE,
)
# Store order numbers (letters and digits, at least one digit) and the long digit runs shoppers paste.
ORDER_NUMBER = re.compile(r"(?<![\w@$€£.])#?(?=[A-Za-z0-9]*\d)([A-Za-z0-9]{6,20}|\d{4,20})(?![\w@])")
NEGATIVE_WORDS = frozenset(
    [
        "terrible",
        "awful",
        "horrible",
        "useless",
        "worst",
        "disgusting",
        "pathetic",
        "unacceptable",
        "ridiculous",
        "furious",
        "angry",
        "livid",
        "outraged",
        "scam",
        "fraud",
        "rubbish",
        "garbage",
        "hate",
        "joke",
        "disgrace",
        "incompetent",
        "shocking",
        "appalling",
        "nightmare",
    ]
)
SWEARING = re.compile(r"\b(f+u+c+k\w*|shit\w*|damn\w*|bloody|crap\w*|wtf)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Entities:
    order_numbers: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    amounts: tuple[Decimal, ...] = ()
    max_price: Decimal | None = None


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float
    ranking: tuple[tuple[str, float], ...] = field(default_factory=tuple)


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def extract_entities(text: str) -> Entities:
    emails = tuple(dict.fromkeys(EMAIL.findall(text)))
    without_emails = EMAIL.sub(" ", text)
    amounts: list[Decimal] = []
    max_price: Decimal | None = None
    for match in AMOUNT.finditer(without_emails):
        value = _decimal(match.group("a") or match.group("b") or match.group("c") or "")
        if value is None:
            continue
        amounts.append(value)
        if match.group("bound") or re.search(r"(under|below|less than|up to)\s*$", without_emails[: match.start()]):
            max_price = value
    plain = AMOUNT.sub(" ", without_emails)
    numbers = tuple(dict.fromkeys(match.group(1).upper() for match in ORDER_NUMBER.finditer(plain)))
    return Entities(order_numbers=numbers, emails=emails, amounts=tuple(amounts), max_price=max_price)


def normalize(text: str) -> str:
    """The text the model sees: lower case, with entities replaced by placeholder words."""
    text = EMAIL.sub(" email ", text)
    text = AMOUNT.sub(lambda match: f" {match.group('bound') or ''} amount ", text)
    text = ORDER_NUMBER.sub(" number ", text)
    return " ".join(text.lower().split())


def is_negative(text: str) -> bool:
    """Strong negative sentiment: abuse, swearing at the store, or several angry words or exclamation marks."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    angry = len(words & NEGATIVE_WORDS)
    shouting = sum(1 for word in re.findall(r"[A-Za-z]{4,}", text) if word.isupper()) >= 2
    return angry >= 2 or (angry >= 1 and (bool(SWEARING.search(text)) or shouting or text.count("!") >= 2))


_embedder_lock = threading.Lock()


@cache
def _wordllama() -> Any:
    import wordllama
    from wordllama import WordLlama

    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length 256-d WordLlama embeddings, one row per text."""
    with _embedder_lock:
        model = _wordllama()
    vectors = np.asarray(model.embed(texts, norm=True), dtype=np.float32)
    return vectors.reshape(len(texts), -1)


class IntentClassifier:
    """Logistic regression over [embedding, word TF-IDF, character TF-IDF] of the normalized text."""

    def __init__(self, *, c: float = 8.0) -> None:
        self.vectorizer = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
            ]
        )
        self.model = LogisticRegression(C=c, max_iter=2000)
        self.labels: list[str] = []

    def _features(self, texts: list[str], *, fit: bool = False) -> sparse.csr_matrix:
        normalized = [normalize(text) for text in texts]
        tfidf = self.vectorizer.fit_transform(normalized) if fit else self.vectorizer.transform(normalized)
        dense = sparse.csr_matrix(embed(normalized) * EMBEDDING_WEIGHT)
        return sparse.hstack([dense, tfidf], format="csr")

    def fit(self, texts: list[str], labels: list[str]) -> IntentClassifier:
        self.model.fit(self._features(texts, fit=True), labels)
        self.labels = [str(label) for label in self.model.classes_]
        return self

    def predict_many(self, texts: list[str]) -> list[Prediction]:
        probabilities = self.model.predict_proba(self._features(texts))
        predictions = []
        for row in probabilities:
            order = np.argsort(row)[::-1][:3]
            ranking = tuple((self.labels[i], float(row[i])) for i in order)
            predictions.append(Prediction(intent=ranking[0][0], confidence=ranking[0][1], ranking=ranking))
        return predictions

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]


def train(book: IntentBook, extra: tuple[list[str], list[str]] | None = None) -> IntentClassifier:
    texts, labels = book.training_set()
    if extra is not None:
        texts, labels = texts + extra[0], labels + extra[1]
    return IntentClassifier().fit(texts, labels)


_classifier_lock = threading.Lock()
_classifiers: dict[str, IntentClassifier] = {}


def _model_path(book: IntentBook) -> Path:
    return Path(settings.SUPPORT_MODEL_DIR) / f"intents-{MODEL_VERSION}-{book.digest[:16]}.pickle"


def classifier() -> IntentClassifier:
    """The classifier for the current intents file: from memory, else from the disk cache, else trained now."""
    book = load_intents()
    found = _classifiers.get(book.digest)
    if found is not None:
        return found
    with _classifier_lock:
        found = _classifiers.get(book.digest)
        if found is not None:
            return found
        path = _model_path(book)
        if path.exists():
            # Only this process writes these files, under the project's own var/ directory.
            found = pickle.loads(path.read_bytes())  # noqa: S301
        else:
            logger.info("Training the support intent model from %s intents", len(book.intents))
            found = train(book)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp")
            partial.write_bytes(pickle.dumps(found))
            partial.replace(path)
        _classifiers.clear()
        _classifiers[book.digest] = found
        return found
