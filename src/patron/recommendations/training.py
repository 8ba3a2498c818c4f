"""Training: read the store's orders, product views and catalog, run the engine, store the results, activate.

The results of one run are a new `ModelVersion` and its rows: each product's similar items (text embeddings of
name, brand, category path and description, blended with co-views, so that a product nobody bought yet is
still recommended) and frequently-bought-together items (co-purchases), each signed-in customer's top items
(the engine's default model fitted on every customer's and guest's purchases), and trending products
store-wide and per category. Rows are written while the version is `training`, invisible to serving; the
version then becomes the active one in one transaction, and versions older than the previous one are deleted.

Only one training runs at a time: starting one inserts the `training` row, which a partial unique index allows
once. A run refreshes its heartbeat at every phase; one whose heartbeat is older than `LEASE` (its worker died)
is marked failed by the next run, and a run that lost its lease that way stops instead of activating.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import batched
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from patron.analytics import services as analytics
from patron.catalog.models import Product
from patron.catalog.services import COUNTED_ORDER_STATUSES, category_tree
from patron.errors import Conflict, ValidationFailed
from patron.orders.models import OrderLine
from patron.progress import Progress, silent_progress
from patron.recommendations.engine import baskets, content
from patron.recommendations.engine.data import PurchaseLog, basket_matrix, interaction_matrix
from patron.recommendations.engine.models import DEFAULT_MODEL, MODELS
from patron.recommendations.models import (
    ItemNeighbour,
    ModelVersion,
    NeighbourKind,
    TrendingItem,
    UserRecommendation,
)
from patron.recommendations.services import forget_active_model

SIMILAR_K = 20
BOUGHT_TOGETHER_K = 12
USER_TOP_K = 30
TRENDING_K = 24
# Co-views weigh half as much as text similarity: they are plentiful but noisy (browsing is not buying).
COVIEW_WEIGHT = 0.5
COVIEW_DAYS = 90
TRENDING_DAYS = 30
TRENDING_HALF_LIFE_DAYS = 7.0
# In trending, a view counts for a fifth of a purchase.
TRENDING_VIEW_WEIGHT = 0.2
DESCRIPTION_CHARS = 600
TEXT_BATCH = 1000
MAX_MODEL_ITEMS = 5000
WRITE_BATCH = 5000
LEASE = timedelta(minutes=30)
KEEP_PREVIOUS = 1
KEEP_FAILED = 3
USER_PREFIX = "u:"
GUEST_PREFIX = "e:"


@dataclass(frozen=True)
class Catalog:
    """The active products, in the engine's item order (by id), with what their text embedding is made of."""

    ids: list[int]
    texts: list[str]
    category_paths: list[str]

    @property
    def item_ids(self) -> list[str]:
        return [str(product_id) for product_id in self.ids]


@dataclass
class Results:
    similar: tuple[np.ndarray, np.ndarray] | None = None
    bought_together: tuple[np.ndarray, np.ndarray] | None = None
    users: list[tuple[int, list[tuple[int, float]]]] = field(default_factory=list)
    trending: dict[int | None, list[tuple[int, float]]] = field(default_factory=dict)


def train(*, progress: Progress = silent_progress, model_name: str | None = None) -> ModelVersion:
    """Train on everything the store knows now and make the result the active version.

    Raises Conflict when another training is running (or took this one over after it stalled).
    """
    name = model_name or DEFAULT_MODEL
    if name not in MODELS:
        message = f"Unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}."
        raise ValidationFailed(message, fields={"model": [message]})
    parameters = {
        "model": name,
        "similar_k": SIMILAR_K,
        "bought_together_k": BOUGHT_TOGETHER_K,
        "user_top_k": USER_TOP_K,
        "trending_k": TRENDING_K,
        "coview_weight": COVIEW_WEIGHT,
        "coview_days": COVIEW_DAYS,
        "trending_days": TRENDING_DAYS,
    }
    version = _start(name, parameters)
    try:
        return _run(version, name, progress)
    except Exception as error:
        _fail(version, error)
        raise


def _start(name: str, parameters: dict[str, Any]) -> ModelVersion:
    """Take the training lock: insert this run's `training` row, after failing a run that stopped beating."""
    now = timezone.now()
    ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING, heartbeat_at__lt=now - LEASE).update(
        status=ModelVersion.Status.FAILED, error="Abandoned: its worker stopped reporting progress."
    )
    try:
        with transaction.atomic():
            number = (ModelVersion.objects.aggregate(top=Max("version"))["top"] or 0) + 1
            return ModelVersion.objects.create(
                name=name, version=number, parameters=parameters, started_at=now, heartbeat_at=now
            )
    except IntegrityError:
        running = ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING).first()
        since = f" since {running.started_at:%Y-%m-%d %H:%M} UTC" if running else ""
        raise Conflict(f"Another training is running{since}; try again when it has finished.") from None


def _beat(version: ModelVersion) -> None:
    alive = ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.TRAINING).update(
        heartbeat_at=timezone.now()
    )
    if not alive:
        raise Conflict(f"Training {version.label} was taken over after stalling; its results are dropped.")


def _fail(version: ModelVersion, error: BaseException) -> None:
    _delete_rows([version.pk])
    ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
    )


def _run(version: ModelVersion, name: str, progress: Progress) -> ModelVersion:
    cutoff = version.started_at
    metrics: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def phase(label: str) -> AbstractContextManager[None]:
        _beat(version)
        return _timed(label, timings)

    with phase("read"):
        catalog = read_catalog(progress)
        log = purchase_log(cutoff, progress)
        views = list(_views(cutoff, progress))
    metrics.update(products=len(catalog.ids), purchase_lines=len(log), views=len(views))
    results = Results()
    if catalog.ids:
        with phase("similar"):
            results.similar = similar_items(catalog, views, progress)
        with phase("bought_together"):
            results.bought_together = bought_together(catalog, log, progress)
        with phase("for_you"):
            results.users = users_top_items(catalog, log, name, progress)
        with phase("trending"):
            results.trending = trending(catalog, log, views, cutoff, progress)
    with phase("write"):
        metrics.update(_write(version, catalog, results, progress, lambda: _beat(version)))
    metrics["seconds"] = {label: round(seconds, 2) for label, seconds in timings.items()}
    return _activate(version, metrics)


@contextmanager
def _timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[label] = time.perf_counter() - started


# --- Reading the store ------------------------------------------------------------------------------------------


def read_catalog(progress: Progress = silent_progress) -> Catalog:
    """Active products in id order, each as one text: name, brand, category path and the start of the text."""
    names = {category.pk: category for category in category_tree()}
    products = Product.objects.filter(is_active=True, archived_at__isnull=True).order_by("pk")
    rows = list(products.values_list("pk", "name", "brand", "category_id", "description"))
    ids, texts, paths = [], [], []
    with progress("Reading products", len(rows)) as advance:
        for product_id, name, brand, category_id, description in rows:
            category = names.get(category_id)
            path = category.path if category else ""
            trail = " > ".join(names[int(part)].name for part in path.split("/") if part and int(part) in names)
            parts = (name, brand, trail, " ".join(description.split())[:DESCRIPTION_CHARS])
            ids.append(product_id)
            texts.append(". ".join(part for part in parts if part))
            paths.append(path)
        advance(len(rows))
    return Catalog(ids=ids, texts=texts, category_paths=paths)


def _user_key(user_id: int | None, email: str) -> str:
    """Customers by account; guests by email. A guest order is never credited to an account with the same
    address: anyone can type an address at checkout, and it would show in that customer's recommendations."""
    return f"{USER_PREFIX}{user_id}" if user_id is not None else f"{GUEST_PREFIX}{email.strip().lower()}"


def purchase_log(until: datetime, progress: Progress = silent_progress) -> PurchaseLog:
    """The lines of paid (or later) orders placed before `until`: the user key, basket = order."""
    lines = OrderLine.objects.filter(order__status__in=COUNTED_ORDER_STATUSES, order__placed_at__lt=until)
    total = lines.count()
    users, items, stamps, quantities, orders = [], [], [], [], []
    with progress("Reading orders", total) as advance:
        fields = ("order__user_id", "order__email", "product_id", "order__placed_at", "quantity", "order_id")
        for count, (user_id, email, product_id, placed_at, quantity, order_id) in enumerate(
            lines.values_list(*fields).iterator(chunk_size=WRITE_BATCH), start=1
        ):
            users.append(_user_key(user_id, email))
            items.append(str(product_id))
            stamps.append(int(placed_at.timestamp()))
            quantities.append(quantity)
            orders.append(str(order_id))
            if count % WRITE_BATCH == 0:
                advance(WRITE_BATCH)
    return PurchaseLog(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        timestamps=np.array(stamps, dtype="datetime64[s]"),
        quantities=np.array(quantities, dtype=np.float32),
        basket_ids=np.array(orders, dtype=object),
    )


def _views(until: datetime, progress: Progress) -> Iterator[tuple[str, int, datetime]]:
    with progress("Reading product views", 1) as advance:
        for actor, product_id, at in analytics.product_views(until - timedelta(days=COVIEW_DAYS)):
            if at < until:
                yield actor, product_id, at
        advance(1)


# --- Computing ---------------------------------------------------------------------------------------------------


def _view_log(views: Sequence[tuple[str, int, datetime]]) -> PurchaseLog:
    """Product views as a log whose baskets are viewers, so co-occurrence counts co-views."""
    actors = np.array([actor for actor, _, _ in views], dtype=object)
    return PurchaseLog(
        user_ids=actors,
        item_ids=np.array([str(product_id) for _, product_id, _ in views], dtype=object),
        timestamps=np.array([int(at.timestamp()) for _, _, at in views], dtype="datetime64[s]"),
        quantities=np.ones(len(views), dtype=np.float32),
        basket_ids=actors,
    )


def embed(texts: Sequence[str], progress: Progress = silent_progress) -> np.ndarray:
    vectors = []
    with progress("Embedding product texts", len(texts)) as advance:
        for chunk in batched(texts, TEXT_BATCH):
            vectors.append(content.embed_texts(list(chunk)))
            advance(len(chunk))
    return np.vstack(vectors)


def similar_items(
    catalog: Catalog, views: Sequence[tuple[str, int, datetime]], progress: Progress = silent_progress
) -> tuple[np.ndarray, np.ndarray]:
    """Text similarity over every active product, blended with co-views where there are any."""
    vectors = embed(catalog.texts, progress)
    with progress("Similar items", 1) as advance:
        found = content.nearest_neighbours(vectors, SIMILAR_K)
        if views:
            coviews = basket_matrix(_view_log(views), items=catalog.item_ids)
            viewed_together = baskets.frequently_bought_together(coviews, SIMILAR_K)
            found = content.blend(found, viewed_together, second_weight=COVIEW_WEIGHT, k=SIMILAR_K)
        advance(1)
    return found


def bought_together(
    catalog: Catalog, log: PurchaseLog, progress: Progress = silent_progress
) -> tuple[np.ndarray, np.ndarray] | None:
    if not len(log):
        return None
    with progress("Frequently bought together", 1) as advance:
        found = baskets.frequently_bought_together(basket_matrix(log, items=catalog.item_ids), BOUGHT_TOGETHER_K)
        advance(1)
    return found


def users_top_items(
    catalog: Catalog, log: PurchaseLog, model_name: str, progress: Progress = silent_progress
) -> list[tuple[int, list[tuple[int, float]]]]:
    """Each customer's top items (guests take part in fitting the model, but have no account to show them).

    The model's columns are the most bought active products (at most MAX_MODEL_ITEMS): a product nobody bought
    carries no signal for it, and models such as EASE cost the cube of their column count.
    """
    active = set(catalog.item_ids)
    items, counts = np.unique(log.item_ids, return_counts=True)
    bought = [(item, count) for item, count in zip(items.tolist(), counts.tolist(), strict=True) if item in active]
    columns = [item for item, _ in sorted(bought, key=lambda pair: -pair[1])[:MAX_MODEL_ITEMS]]
    if not columns:
        return []
    interactions = interaction_matrix(log, items=columns)
    ids = [int(item) for item in interactions.item_ids]
    customers = [row for row, key in enumerate(interactions.user_ids) if key.startswith(USER_PREFIX)]
    if not customers:
        return []
    with progress(f"Fitting {model_name}", 1) as advance:
        model = MODELS[model_name]()
        model.fit(interactions.matrix)
        advance(1)
    result = []
    with progress("Recommended for you", len(customers)) as advance:
        for chunk in batched(customers, TEXT_BATCH):
            rows = list(chunk)
            indices, scores = model.recommend(interactions.matrix[rows], USER_TOP_K)
            for row, row_indices, row_scores in zip(rows, indices, scores, strict=True):
                user_id = int(interactions.user_ids[row].removeprefix(USER_PREFIX))
                result.append((user_id, _pairs(ids, row_indices, row_scores)))
            advance(len(rows))
    return result


def _pairs(ids: Sequence[int], indices: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    """(product id, score) of one row of engine results, without the -1 / -inf padding."""
    return [
        (ids[int(index)], float(score))
        for index, score in zip(indices, scores, strict=True)
        if index >= 0 and math.isfinite(score)
    ]


def trending(
    catalog: Catalog,
    log: PurchaseLog,
    views: Sequence[tuple[str, int, datetime]],
    until: datetime,
    progress: Progress = silent_progress,
) -> dict[int | None, list[tuple[int, float]]]:
    """Recent purchases and views, each weighing less as it ages (half-life of a week); the best products
    store-wide (key None) and in each category's subtree (key: category id)."""
    since = until - timedelta(days=TRENDING_DAYS)
    position = {str(product_id): index for index, product_id in enumerate(catalog.ids)}
    scores = np.zeros(len(catalog.ids), dtype=np.float64)

    def add(items: Iterable[str], ages_days: np.ndarray, weight: float) -> None:
        for item, age in zip(items, ages_days, strict=True):
            index = position.get(item)
            if index is not None and age <= TRENDING_DAYS:
                scores[index] += weight * 0.5 ** (age / TRENDING_HALF_LIFE_DAYS)

    with progress("Trending", 1) as advance:
        now = np.datetime64(int(until.timestamp()), "s")
        if len(log):
            add(log.item_ids, (now - log.timestamps).astype(np.float64) / 86400, 1.0)
        recent = [(str(product_id), at) for _, product_id, at in views if at >= since]
        if recent:
            ages = np.array([(until - at).total_seconds() / 86400 for _, at in recent])
            add([item for item, _ in recent], ages, TRENDING_VIEW_WEIGHT)
        by_category: dict[int | None, list[int]] = defaultdict(list)
        for index in np.flatnonzero(scores > 0):
            by_category[None].append(int(index))
            for part in catalog.category_paths[index].split("/"):
                if part:
                    by_category[int(part)].append(int(index))
        ranked = {
            category: [
                (catalog.ids[index], float(scores[index]))
                for index in sorted(indices, key=lambda i: (-scores[i], catalog.ids[i]))[:TRENDING_K]
            ]
            for category, indices in by_category.items()
        }
        advance(1)
    return ranked


# --- Storing and activating --------------------------------------------------------------------------------------


def _neighbour_rows(
    version: ModelVersion, kind: NeighbourKind, ids: Sequence[int], found: tuple[np.ndarray, np.ndarray]
) -> Iterator[ItemNeighbour]:
    indices, scores = found
    for row, product_id in enumerate(ids):
        for rank, (neighbour_id, score) in enumerate(_pairs(ids, indices[row], scores[row])):
            yield ItemNeighbour(
                model_version=version,
                kind=kind,
                product_id=product_id,
                rank=rank,
                neighbour_id=neighbour_id,
                score=score,
            )


def _user_rows(version: ModelVersion, users: list[tuple[int, list[tuple[int, float]]]]) -> Iterator[Any]:
    for user_id, pairs in users:
        for rank, (product_id, score) in enumerate(pairs):
            yield UserRecommendation(
                model_version=version, user_id=user_id, rank=rank, product_id=product_id, score=score
            )


def _trending_rows(version: ModelVersion, ranked: dict[int | None, list[tuple[int, float]]]) -> Iterator[Any]:
    for category_id, pairs in ranked.items():
        for rank, (product_id, score) in enumerate(pairs):
            yield TrendingItem(
                model_version=version, category_id=category_id, rank=rank, product_id=product_id, score=score
            )


def _write(
    version: ModelVersion, catalog: Catalog, results: Results, progress: Progress, beat: Callable[[], None]
) -> dict[str, int]:
    """Store the results in batches (the version is not active yet, so nobody reads them half-written)."""
    tables: list[tuple[str, Any, Iterable[Any], int]] = []
    for label, kind, found in (
        ("similar", NeighbourKind.SIMILAR, results.similar),
        ("bought_together", NeighbourKind.BOUGHT_TOGETHER, results.bought_together),
    ):
        count = int((found[0] >= 0).sum()) if found is not None else 0
        objects = _neighbour_rows(version, kind, catalog.ids, found) if found is not None else iter(())
        tables.append((label, ItemNeighbour, objects, count))
    user_rows = sum(len(pairs) for _, pairs in results.users)
    tables.append(("user_items", UserRecommendation, _user_rows(version, results.users), user_rows))
    trending_rows = sum(len(pairs) for pairs in results.trending.values())
    tables.append(("trending", TrendingItem, _trending_rows(version, results.trending), trending_rows))
    sizes: dict[str, int] = {}
    with progress("Saving results", sum(total for *_, total in tables)) as advance:
        for label, model, pending, _ in tables:
            written = 0
            for batch in batched(pending, WRITE_BATCH):
                model.objects.bulk_create(batch)
                written += len(batch)
                advance(len(batch))
                beat()
            sizes[f"{label}_rows"] = written
    sizes["users"] = len(results.users)
    return sizes


def _activate(version: ModelVersion, metrics: dict[str, Any]) -> ModelVersion:
    now = timezone.now()
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        activated = ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.TRAINING).update(
            status=ModelVersion.Status.READY, is_active=True, trained_at=now, heartbeat_at=now, metrics=metrics
        )
        if not activated:
            raise Conflict(f"Training {version.label} was taken over after stalling; its results are dropped.")
        # Again after commit, in case a request cached the old version in between (or this runs in a transaction).
        transaction.on_commit(forget_active_model)
    forget_active_model()
    _purge(keep=version.pk)
    version.refresh_from_db()
    return version


def _delete_rows(version_ids: Sequence[int]) -> None:
    for model in (ItemNeighbour, UserRecommendation, TrendingItem):
        model.objects.filter(model_version_id__in=version_ids).delete()


def _purge(*, keep: int) -> None:
    """Delete versions older than the previous one (kept for requests that still read it) and old failures."""
    ready = ModelVersion.objects.filter(status=ModelVersion.Status.READY, is_active=False).exclude(pk=keep)
    failed = ModelVersion.objects.filter(status=ModelVersion.Status.FAILED)
    doomed = list(ready.values_list("pk", flat=True)[KEEP_PREVIOUS:]) + list(
        failed.values_list("pk", flat=True)[KEEP_FAILED:]
    )
    if doomed:
        # Their result rows go with them, each table in one statement.
        ModelVersion.objects.filter(pk__in=doomed).delete()


def has_active_version() -> bool:
    return ModelVersion.objects.filter(is_active=True).exists()
