"""Semantic search over the knowledge-base articles, passage by passage, for answers that cite their article.

Each published article is cut into paragraphs; a passage is scored against the question by the cosine of their
WordLlama embeddings blended with a TF-IDF word overlap, so both meaning and exact terms ("VAT invoice") count.
The index is rebuilt only when an article changes (its count or latest `updated_at` differ).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml
from django.db.models import Count, Max
from django.utils import timezone
from sklearn.feature_extraction.text import TfidfVectorizer

from patron.support.assistant.nlu import embed, normalize
from patron.support.models import Article

DEFAULT_ARTICLES_FILE = Path(__file__).resolve().parent.parent / "data" / "articles.yaml"
MIN_SCORE = 0.35
EMBEDDING_SHARE = 0.6


@dataclass(frozen=True)
class Passage:
    article_id: int
    slug: str
    title: str
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


class _Index:
    def __init__(self, entries: list[tuple[Passage, str]]) -> None:
        self.passages = [passage for passage, _ in entries]
        documents = [normalize(indexed) for _, indexed in entries]
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")
        self.tfidf = self.vectorizer.fit_transform(documents) if documents else None
        self.vectors = embed(documents) if documents else np.zeros((0, 256), dtype=np.float32)

    def search(self, query: str, limit: int) -> list[Hit]:
        if not self.passages or self.tfidf is None:
            return []
        text = normalize(query)
        semantic = self.vectors @ embed([text])[0]
        lexical = (self.tfidf @ self.vectorizer.transform([text]).T).toarray().ravel()
        scores = EMBEDDING_SHARE * semantic + (1 - EMBEDDING_SHARE) * lexical
        best = np.argsort(scores)[::-1][:limit]
        return [Hit(self.passages[i], float(scores[i])) for i in best]


def _passages(articles: list[Article]) -> list[tuple[Passage, str]]:
    """Each paragraph with the text it is found by: the title, and for the first paragraph the keywords too."""
    entries = []
    for article in articles:
        paragraphs = [part.strip() for part in article.body.replace("\r\n", "\n").split("\n\n") if part.strip()]
        for position, paragraph in enumerate(paragraphs or [article.title]):
            indexed = f"{article.title}. {paragraph} {article.keywords if position == 0 else ''}"
            entries.append((Passage(article.pk, article.slug, article.title, paragraph), indexed))
    return entries


_lock = threading.Lock()
_cached: tuple[tuple[int, datetime | None], _Index] | None = None


def _index() -> _Index:
    global _cached
    published = Article.objects.filter(is_published=True)
    version = published.aggregate(count=Count("id"), latest=Max("updated_at"))
    key = (int(version["count"]), version["latest"])
    with _lock:
        if _cached is None or _cached[0] != key:
            _cached = (key, _Index(_passages(list(published.order_by("pk")))))
        return _cached[1]


def search(query: str, *, limit: int = 3, min_score: float = MIN_SCORE) -> list[Hit]:
    """The best passages for `query`, best first, leaving out those scoring below `min_score`."""
    return [hit for hit in _index().search(query, limit) if hit.score >= min_score]


def seed_articles(path: Path = DEFAULT_ARTICLES_FILE) -> int:
    """Create the starter articles a store does not have yet (by slug); edited articles are left alone."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    existing = set(Article.objects.values_list("slug", flat=True))
    created = [
        Article(
            slug=entry["slug"],
            title=entry["title"],
            body=entry["body"].strip(),
            keywords=entry.get("keywords", ""),
            updated_at=timezone.now(),
        )
        for entry in entries
        if entry["slug"] not in existing
    ]
    Article.objects.bulk_create(created)
    return len(created)
