"""`patron recommend evaluate`: every model side by side on a purchase log file, by the documented protocol."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from rich.console import Console

from patron.recommendations.engine.models import DEFAULT_MODEL, MODELS
from patron.recommendations.engine.report import print_evaluation
from tests.datasets import online_retail_file


def generated_log(path: Path, *, seed: int = 7) -> Path:
    """Three tastes of ten items each, plus two best-sellers everyone buys, over sixty days."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1)
    rows = ["user,item,timestamp,quantity,basket"]
    basket = 0
    for user in range(150):
        taste = user % 3
        for _ in range(rng.integers(3, 7)):
            basket += 1
            at = start + timedelta(days=int(rng.integers(0, 60)), minutes=int(rng.integers(0, 600)))
            items = {f"t{taste}-{n}" for n in rng.choice(10, size=rng.integers(1, 4), replace=False)}
            items |= {f"best-{n}" for n in range(2) if rng.random() < 0.5}
            rows += [f"u{user},{item},{at.isoformat()},{rng.integers(1, 5)},b{basket}" for item in sorted(items)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def evaluate(*args: str) -> str:
    out = StringIO()
    call_command("recommend", "evaluate", *args, stdout=out)
    return out.getvalue()


def test_every_model_is_scored_side_by_side(tmp_path: Path) -> None:
    output = evaluate("--interactions", str(generated_log(tmp_path / "log.csv")), "--test-days", "14")

    for heading in ("Recall@20", "NDCG@10", "HitRate@10", "coverage", "train s"):
        assert heading in output
    for name in MODELS:
        assert name in output
    assert f"{DEFAULT_MODEL} (default)" in output
    assert "Test period: 14 days from 2024-02-16;" in output
    assert f"{DEFAULT_MODEL} vs popularity: NDCG@10" in output
    assert f"{DEFAULT_MODEL} vs cooccurrence: NDCG@10" in output
    assert f"Training {DEFAULT_MODEL} on the whole log (150 customers x 32 items" in output


def test_models_that_learn_tastes_beat_popularity_on_a_log_with_tastes(tmp_path: Path) -> None:
    console = Console(file=StringIO(), width=200)

    results = print_evaluation(
        console, generated_log(tmp_path / "log.csv"), test_days=14, validation=False, models=list(MODELS)
    )

    ndcg = {result.name: result.scores.ndcg for result in results}
    assert ndcg[DEFAULT_MODEL] > ndcg["popularity"]
    assert ndcg["itemknn"] > ndcg["popularity"]


def test_a_chosen_subset_on_the_validation_period(tmp_path: Path) -> None:
    output = evaluate(
        "--interactions",
        str(generated_log(tmp_path / "log.csv")),
        "--test-days",
        "14",
        "--validation",
        "--models",
        "popularity",
        "itemknn",
    )

    assert "Validation period: 14 days from 2024-02-02 (just before the test period, which is left out)" in output
    assert "itemknn" in output and "popularity" in output
    assert "ease" not in output and "cooccurrence" not in output


def test_an_unusable_file_is_a_command_error(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,item\n1,2\n", encoding="utf-8")

    with pytest.raises(CommandError, match="missing column"):
        evaluate("--interactions", str(path))
    with pytest.raises(CommandError, match="nothing to train"):
        evaluate("--interactions", str(generated_log(tmp_path / "short.csv")), "--test-days", "400")


def test_on_online_retail_the_default_model_beats_both_baselines() -> None:
    out = StringIO()
    console = Console(file=out, width=200)

    results = print_evaluation(
        console,
        online_retail_file(),
        test_days=28,
        validation=False,
        models=["popularity", "cooccurrence", DEFAULT_MODEL],
    )

    ndcg = {result.name: result.scores for result in results}
    served = ndcg[DEFAULT_MODEL]
    for baseline in ("popularity", "cooccurrence"):
        # By more than two standard errors of either: not a lucky draw of test users.
        margin = 2 * max(served.ndcg_error, ndcg[baseline].ndcg_error)
        assert served.ndcg > ndcg[baseline].ndcg + margin, baseline
    assert "Test period: 28 days from 2011-11-12" in out.getvalue()
