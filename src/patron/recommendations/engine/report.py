"""`patron recommend evaluate`: run the offline protocol on a purchase log file and print the models side by side."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from patron.progress import rich_progress
from patron.recommendations.engine.data import interaction_matrix, read_purchase_log
from patron.recommendations.engine.evaluation import (
    ModelResult,
    evaluate,
    evaluation_set,
    temporal_split,
    validation_split,
)
from patron.recommendations.engine.models import DEFAULT_MODEL, MODELS


def print_evaluation(
    console: Console, path: Path, *, test_days: int, validation: bool, models: Sequence[str]
) -> list[ModelResult]:
    """Read, split, fit and score every model in `models`, printing each step's figures; returns the results."""
    if not console.is_terminal:
        # Files and pipes get the whole table rather than rich's 80 columns of wrapped cells.
        console = Console(file=console.file, width=max(console.width, 120), highlight=False)
    started = time.perf_counter()
    log = read_purchase_log(path)
    split = (validation_split if validation else temporal_split)(log, test_days=test_days)
    data = evaluation_set(split)
    train = data.train
    console.print(
        f"Read {len(log):,} purchase lines of {len(set(log.user_ids)):,} customers and "
        f"{len(set(log.item_ids)):,} items in {time.perf_counter() - started:.1f} s."
    )
    period = "validation period" if validation else "test period"
    console.print(
        f"{period.capitalize()}: {test_days} days from {split.cutoff.astype('datetime64[D]')}"
        f"{' (just before the test period, which is left out)' if validation else ''}; "
        f"training on {len(split.train):,} lines, {len(train.user_ids):,} customers x {len(train.item_ids):,} items."
    )
    console.print(
        f"Scored on {len(data.test_users):,} customers who bought both before and during the {period}, "
        f"with {data.truth.nnz:,} items new to them to find. Not scored: {data.cold_users:,} first-time "
        f"customers and {data.repeat_only_users:,} who only bought again or bought products first sold then; "
        f"{data.cold_item_lines:,} lines of such new products are left out."
    )
    with rich_progress(console) as progress:
        results = evaluate({name: MODELS[name] for name in models}, data, progress=progress)
    console.print(_table(results))
    _print_gains(console, results)
    if DEFAULT_MODEL in models:
        matrix = interaction_matrix(log).matrix
        fit_started = time.perf_counter()
        MODELS[DEFAULT_MODEL]().fit(matrix)
        console.print(
            f"Training {DEFAULT_MODEL} on the whole log ({matrix.shape[0]:,} customers x {matrix.shape[1]:,} items, "
            f"{matrix.nnz:,} pairs): {time.perf_counter() - fit_started:.1f} s."
        )
    return results


def _table(results: Sequence[ModelResult]) -> Table:
    table = Table(title="Offline evaluation (temporal split; new items only)")
    for column in ("model", "Recall@20", "NDCG@10 ± s.e.", "HitRate@10", "coverage", "train s", "recommend s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for result in results:
        scores = result.scores
        table.add_row(
            f"{result.name} (default)" if result.name == DEFAULT_MODEL else result.name,
            f"{scores.recall:.4f}",
            f"{scores.ndcg:.4f} ± {scores.ndcg_error:.4f}",
            f"{scores.hit_rate:.4f}",
            f"{scores.coverage:.1%}",
            f"{result.train_seconds:.1f}",
            f"{result.recommend_seconds:.1f}",
        )
    return table


def _print_gains(console: Console, results: Sequence[ModelResult]) -> None:
    by_name = {result.name: result.scores.ndcg for result in results}
    if DEFAULT_MODEL not in by_name:
        return
    served = by_name[DEFAULT_MODEL]
    for name in ("popularity", "cooccurrence"):
        if name in by_name and by_name[name] > 0:
            console.print(
                f"{DEFAULT_MODEL} vs {name}: NDCG@10 {served:.4f} vs {by_name[name]:.4f} "
                f"({served / by_name[name] - 1:+.0%})."
            )
