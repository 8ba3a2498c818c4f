"""The offline evaluation protocol: a temporal split of a purchase log, and ranking metrics per model.

1. Split at a global cut-off time: every line before it is training data, every line at or after it is test
   data (`temporal_split`; the last `test_days` calendar days of the log by default).
2. Models are fitted on the training users x training items matrix (`interaction_matrix`).
3. Test users are the users with purchases on both sides of the cut-off. Users seen only after it are cold
   users and are not scored; the count is reported.
4. A test user's ground truth is the set of items they bought in the test period and never before it
   (discovery: repeat purchases are what a "buy again" list is for, and they would reward models for echoing
   the history). Items first sold in the test period (cold items) cannot be recommended by any model and are
   left out of the ground truth (counted). Test users whose test purchases were all repeats or cold items
   are dropped (counted).
5. Each model recommends 20 items per test user from their training history, never an item of that history.
6. Metrics, averaged over test users: Recall@20 = hits in the top 20 / min(20, |truth|); NDCG@10 with binary
   relevance, normalised by the ideal ranking of min(10, |truth|) hits; HitRate@10 = share of users with at
   least one hit in the top 10. Coverage = distinct items in all top-10 lists / items in the training data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from patron.progress import Progress, silent_progress
from patron.recommendations.engine.data import InteractionMatrix, PurchaseLog, interaction_matrix
from patron.recommendations.engine.models import Recommender

DEFAULT_TEST_DAYS = 28
RECALL_AT = 20
RANK_AT = 10


@dataclass(frozen=True)
class TemporalSplit:
    train: PurchaseLog
    test: PurchaseLog
    cutoff: np.datetime64


def temporal_split(log: PurchaseLog, *, test_days: int = DEFAULT_TEST_DAYS) -> TemporalSplit:
    """Lines before midnight starting the log's last `test_days` calendar days train; the rest test."""
    if test_days < 1:
        raise ValueError("The test period must be at least one day.")
    if not len(log):
        raise ValueError("The purchase log is empty.")
    last_day = log.timestamps.max().astype("datetime64[D]")
    return split_at(log, (last_day - np.timedelta64(test_days - 1, "D")).astype("datetime64[s]"))


def validation_split(log: PurchaseLog, *, test_days: int = DEFAULT_TEST_DAYS) -> TemporalSplit:
    """The same protocol on the training part only: the `test_days` before the test period are the validation
    period, for tuning without looking at the test period."""
    test = temporal_split(log, test_days=test_days)
    return split_at(test.train, test.cutoff - np.timedelta64(test_days, "D"))


def split_at(log: PurchaseLog, cutoff: np.datetime64) -> TemporalSplit:
    before = log.timestamps < cutoff
    if before.all() or not before.any():
        raise ValueError(f"A cut-off at {cutoff} leaves nothing to train or nothing to test on.")
    return TemporalSplit(train=log.select(before), test=log.select(~before), cutoff=cutoff)


@dataclass(frozen=True)
class EvaluationSet:
    train: InteractionMatrix
    test_users: np.ndarray  # rows of train.matrix
    truth: sp.csr_matrix  # test users x training items, 1 for an item to find
    cutoff: np.datetime64
    cold_users: int  # bought only after the cut-off
    repeat_only_users: int  # all their test purchases were repeats or cold items
    cold_item_lines: int  # test lines of items never sold before the cut-off


def evaluation_set(split: TemporalSplit) -> EvaluationSet:
    train = interaction_matrix(split.train)
    user_row = {user: row for row, user in enumerate(train.user_ids)}
    item_column = {item: column for column, item in enumerate(train.item_ids)}
    test = split.test
    rows = np.array([user_row.get(user, -1) for user in test.user_ids.tolist()], dtype=np.int64)
    columns = np.array([item_column.get(item, -1) for item in test.item_ids.tolist()], dtype=np.int64)
    known_user, known_item = rows >= 0, columns >= 0
    both = known_user & known_item
    bought = sp.csr_matrix(
        (np.ones(int(both.sum()), dtype=np.float32), (rows[both], columns[both])), shape=train.matrix.shape
    )
    bought.data[:] = 1.0
    new = bought - bought.multiply(train.matrix > 0)
    new = sp.csr_matrix(new)
    new.eliminate_zeros()
    returning = np.unique(rows[known_user])
    test_users = returning[np.diff(new.indptr)[returning] > 0]
    return EvaluationSet(
        train=train,
        test_users=test_users,
        truth=sp.csr_matrix(new[test_users]),
        cutoff=split.cutoff,
        cold_users=len(np.unique(test.user_ids[~known_user])),
        repeat_only_users=len(returning) - len(test_users),
        cold_item_lines=int((~known_item).sum()),
    )


@dataclass(frozen=True)
class Scores:
    recall: float
    ndcg: float
    ndcg_error: float  # standard error of the mean over users, to tell real gaps from noise
    hit_rate: float
    coverage: float


def score(recommended: np.ndarray, truth: sp.csr_matrix, items: int) -> Scores:
    """The protocol's metrics for ranked lists (users x >= 20 item indices, -1 padding) against the truth."""
    users = recommended.shape[0]
    if users == 0:
        return Scores(0.0, 0.0, 0.0, 0.0, 0.0)
    truth = sp.csr_matrix(truth)
    row_of = np.repeat(np.arange(users), recommended.shape[1])
    flat = recommended.ravel()
    valid = flat >= 0
    found = np.zeros(flat.shape, dtype=bool)
    found[valid] = np.asarray(truth[row_of[valid], flat[valid]]).ravel() > 0
    hits = found.reshape(recommended.shape)
    relevant = np.diff(truth.indptr)
    recall = hits[:, :RECALL_AT].sum(axis=1) / np.minimum(relevant, RECALL_AT)
    discounts = 1.0 / np.log2(np.arange(2, RANK_AT + 2))
    dcg = (hits[:, :RANK_AT] * discounts).sum(axis=1)
    ndcg = dcg / np.cumsum(discounts)[np.minimum(relevant, RANK_AT) - 1]
    top = recommended[:, :RANK_AT]
    return Scores(
        recall=float(recall.mean()),
        ndcg=float(ndcg.mean()),
        ndcg_error=float(ndcg.std(ddof=1) / np.sqrt(users)) if users > 1 else 0.0,
        hit_rate=float(hits[:, :RANK_AT].any(axis=1).mean()),
        coverage=len(np.unique(top[top >= 0])) / items if items else 0.0,
    )


@dataclass(frozen=True)
class ModelResult:
    name: str
    scores: Scores
    train_seconds: float
    recommend_seconds: float


def evaluate(
    models: Mapping[str, Callable[[], Recommender]],
    data: EvaluationSet,
    *,
    progress: Progress = silent_progress,
) -> list[ModelResult]:
    """Fit each model on the training matrix, rank for the test users and score the lists."""
    history = sp.csr_matrix(data.train.matrix[data.test_users])
    results = []
    for name, factory in models.items():
        with progress(name, 2) as advance:
            model = factory()
            started = time.perf_counter()
            model.fit(data.train.matrix)
            trained = time.perf_counter()
            advance(1)
            recommended, _ = model.recommend(history, RECALL_AT)
            ranked = time.perf_counter()
            advance(1)
        results.append(
            ModelResult(
                name=name,
                scores=score(recommended, data.truth, len(data.train.item_ids)),
                train_seconds=trained - started,
                recommend_seconds=ranked - trained,
            )
        )
    return results
