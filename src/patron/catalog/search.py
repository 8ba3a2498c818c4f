"""The search index behind `catalog.services`: text normalisation and the SQL of each database.

PostgreSQL keeps a weighted `tsvector` per product (GIN index, `ts_rank_cd`) and finds typo candidates
with pg_trgm; SQLite keeps an FTS5 table (bm25 with column weights) and an FTS5 trigram table over the
vocabulary. Both index the same pre-normalised words, so both find the same products for a query:
every word must match (the last one as a prefix, for search-as-you-type), name above brand above
category above description and attribute values.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

WORD = re.compile(r"[^\W_]+")
MIN_TERM_LENGTH = 2
MAX_TERM_LENGTH = 100
TYPO_CANDIDATES = 40
PREFIX_CANDIDATES = 20


def normalize(text: str) -> str:
    """Case- and accent-insensitive form of a text ("Café" -> "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def tokenize(text: str) -> list[str]:
    return WORD.findall(normalize(text))


def vocabulary_terms(text: str) -> set[str]:
    return {term for term in tokenize(text) if MIN_TERM_LENGTH <= len(term) <= MAX_TERM_LENGTH}


def damerau_levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`."""
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        previous_previous, previous = previous, current
    return previous[len(b)]


@dataclass(frozen=True)
class Document:
    """What the index holds for one product, already normalised."""

    product_id: int
    name: str
    brand: str
    category: str
    body: str

    def terms(self) -> set[str]:
        return vocabulary_terms(" ".join((self.name, self.brand, self.category, self.body)))


@dataclass(frozen=True)
class VocabularyMatches:
    """Which query words the vocabulary knows, and spelling candidates (term, frequency) for each word."""

    known: set[str]
    last_is_prefix: bool
    candidates: dict[int, list[tuple[str, int]]]


class SearchIndex(ABC):
    """`every` asks for products matching every word (AND), otherwise any word (OR)."""

    table = "catalog_product_search"
    id_column = "product_id"

    @abstractmethod
    def match_subquery(self, tokens: Sequence[str], *, every: bool) -> tuple[str, list[Any]]:
        """SQL selecting the ids of matching products (active or not), for `id IN (...)`."""

    @abstractmethod
    def ranked_ids(self, tokens: Sequence[str], *, every: bool, limit: int | None = None) -> list[int]:
        """Ids of the matching active products, best match first."""

    @abstractmethod
    def vocabulary_matches(self, tokens: Sequence[str]) -> VocabularyMatches:
        """One query: the known words, whether the last word starts a known one, spelling candidates."""

    def read(self, product_ids: Sequence[int]) -> list[Document]:
        sql = (
            f"SELECT {self.id_column}, name, brand, category, body FROM {self.table} "  # noqa: S608
            f"WHERE {self.id_column} IN ({_placeholders(product_ids)})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, list(product_ids))
            return [Document(int(row[0]), *row[1:]) for row in cursor.fetchall()]

    def replace(self, product_ids: Sequence[int], documents: Iterable[Document]) -> None:
        """Drop the rows of `product_ids`, then store `documents` (a subset: inactive products stay out)."""
        rows = [(d.product_id, d.name, d.brand, d.category, d.body) for d in documents]
        with connection.cursor() as cursor:
            if product_ids:
                cursor.execute(
                    f"DELETE FROM {self.table} WHERE {self.id_column} IN ({_placeholders(product_ids)})",  # noqa: S608
                    list(product_ids),
                )
            if rows:
                cursor.executemany(
                    f"INSERT INTO {self.table} ({self.id_column}, name, brand, category, body) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.table}")  # noqa: S608


class PostgresSearchIndex(SearchIndex):
    @staticmethod
    def tsquery(tokens: Sequence[str], *, every: bool) -> str:
        words = [*tokens[:-1], f"{tokens[-1]}:*"]
        return (" & " if every else " | ").join(words)

    def match_subquery(self, tokens: Sequence[str], *, every: bool) -> tuple[str, list[Any]]:
        return (
            "SELECT product_id FROM catalog_product_search WHERE document @@ to_tsquery('simple', %s)",
            [self.tsquery(tokens, every=every)],
        )

    def ranked_ids(self, tokens: Sequence[str], *, every: bool, limit: int | None = None) -> list[int]:
        query = self.tsquery(tokens, every=every)
        sql = (
            "SELECT s.product_id FROM catalog_product_search s JOIN catalog_product p ON p.id = s.product_id "
            "WHERE s.document @@ to_tsquery('simple', %s) AND p.is_active "
            "ORDER BY ts_rank_cd(s.document, to_tsquery('simple', %s)) DESC, s.product_id"
        )
        params: list[Any] = [query, query]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

    def vocabulary_matches(self, tokens: Sequence[str]) -> VocabularyMatches:
        parts = ["SELECT 0, 0, term, 0 FROM catalog_searchterm WHERE term = ANY(%s)"]
        params: list[Any] = [list(tokens)]
        parts.append("(SELECT 1, 0, term, 0 FROM catalog_searchterm WHERE term LIKE %s LIMIT 1)")
        params.append(f"{tokens[-1]}%")
        for position, token in enumerate(tokens):
            parts.append(
                "(SELECT 2, %s, term, frequency FROM catalog_searchterm WHERE term %% %s "
                "ORDER BY similarity(term, %s) DESC, frequency DESC LIMIT %s)"
            )
            params += [position, token, token, TYPO_CANDIDATES]
            parts.append(
                "(SELECT 2, %s, term, frequency FROM catalog_searchterm WHERE term LIKE %s "
                "ORDER BY frequency DESC LIMIT %s)"
            )
            params += [position, f"{token[:2]}%", PREFIX_CANDIDATES]
        return _vocabulary_matches(" UNION ALL ".join(parts), params)


class SqliteSearchIndex(SearchIndex):
    id_column = "rowid"

    @staticmethod
    def fts_query(tokens: Sequence[str], *, every: bool) -> str:
        words = [f'"{token}"' for token in tokens[:-1]] + [f'"{tokens[-1]}"*']
        return (" AND " if every else " OR ").join(words)

    def match_subquery(self, tokens: Sequence[str], *, every: bool) -> tuple[str, list[Any]]:
        return (
            "SELECT rowid FROM catalog_product_search WHERE catalog_product_search MATCH %s",
            [self.fts_query(tokens, every=every)],
        )

    def ranked_ids(self, tokens: Sequence[str], *, every: bool, limit: int | None = None) -> list[int]:
        # bm25 weights name, brand, category and body as PostgreSQL's A-D weights do.
        sql = (
            "SELECT catalog_product_search.rowid FROM catalog_product_search "
            "JOIN catalog_product p ON p.id = catalog_product_search.rowid "
            "WHERE catalog_product_search MATCH %s AND p.is_active "
            "ORDER BY bm25(catalog_product_search, 10.0, 4.0, 2.0, 1.0), catalog_product_search.rowid"
        )
        params: list[Any] = [self.fts_query(tokens, every=every)]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

    def vocabulary_matches(self, tokens: Sequence[str]) -> VocabularyMatches:
        parts = [f"SELECT 0, 0, term, 0 FROM catalog_searchterm WHERE term IN ({_placeholders(tokens)})"]  # noqa: S608
        params: list[Any] = list(tokens)
        parts.append(
            "SELECT * FROM (SELECT 1, 0, term, 0 FROM catalog_searchterm WHERE term >= %s AND term < %s LIMIT 1)"
        )
        params += _prefix_range(tokens[-1])
        for position, token in enumerate(tokens):
            trigrams = [token[i : i + 3] for i in range(len(token) - 2)]
            if trigrams:
                parts.append(
                    "SELECT * FROM (SELECT 2, %s, s.term, s.frequency FROM catalog_searchterm_trigram "
                    "JOIN catalog_searchterm s ON s.id = catalog_searchterm_trigram.rowid "
                    "WHERE catalog_searchterm_trigram MATCH %s ORDER BY catalog_searchterm_trigram.rank LIMIT %s)"
                )
                params += [position, " OR ".join(f'"{gram}"' for gram in dict.fromkeys(trigrams)), TYPO_CANDIDATES]
            parts.append(
                "SELECT * FROM (SELECT 2, %s, term, frequency FROM catalog_searchterm "
                "WHERE term >= %s AND term < %s ORDER BY frequency DESC LIMIT %s)"
            )
            params += [position, *_prefix_range(token[:2]), PREFIX_CANDIDATES]
        return _vocabulary_matches(" UNION ALL ".join(parts), params)


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _prefix_range(prefix: str) -> list[Any]:
    """Bounds of the words starting with `prefix` in binary order, usable by an ordinary index."""
    return [prefix, prefix + "\U0010ffff"]


def _vocabulary_matches(sql: str, params: list[Any]) -> VocabularyMatches:
    known: set[str] = set()
    last_is_prefix = False
    candidates: dict[int, list[tuple[str, int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, position, term, frequency in cursor.fetchall():
            if kind == 0:
                known.add(term)
            elif kind == 1:
                last_is_prefix = True
            else:
                candidates.setdefault(position, []).append((term, frequency))
    return VocabularyMatches(known=known, last_is_prefix=last_is_prefix, candidates=candidates)


def search_index() -> SearchIndex:
    if connection.vendor == "postgresql":
        return PostgresSearchIndex()
    if connection.vendor == "sqlite":
        return SqliteSearchIndex()
    raise RuntimeError(f"Patron's catalog search supports PostgreSQL and SQLite, not {connection.vendor}")
