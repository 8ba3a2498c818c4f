"""Purchase logs as matrices, and the offline protocol: the temporal split, the ground truth and the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from patron.recommendations.engine.data import PurchaseLog, basket_matrix, interaction_matrix
from patron.recommendations.engine.evaluation import (
    EvaluationSet,
    evaluate,
    evaluation_set,
    score,
    temporal_split,
    validation_split,
)
from patron.recommendations.engine.models import MODELS, Popularity


def purchase_log(rows: list[tuple[str, str, str, float, str]]) -> PurchaseLog:
    """(user, item, ISO time, quantity, basket) rows."""
    users, items, times, quantities, baskets = zip(*rows, strict=True)
    return PurchaseLog(
        user_ids=np.array(users, dtype=object),
        item_ids=np.array(items, dtype=object),
        timestamps=np.array(times, dtype="datetime64[s]"),
        quantities=np.array(quantities, dtype=np.float32),
        basket_ids=np.array(baskets, dtype=object),
    )


LOG = purchase_log(
    [
        ("u1", "mug", "2024-01-02T10:00", 1, "o1"),
        ("u1", "tea", "2024-01-02T10:00", 2, "o1"),
        ("u1", "mug", "2024-01-20T09:00", 1, "o2"),
        ("u2", "tea", "2024-01-05T12:00", 1, "o3"),
        ("u2", "pot", "2024-01-05T12:00", 1, "o3"),
        # Test period: the last 7 days are 2024-01-25 .. 2024-01-31.
        ("u1", "tea", "2024-01-25T00:00", 1, "o4"),  # repeat
        ("u1", "pot", "2024-01-25T00:00", 1, "o4"),  # new: ground truth
        ("u1", "cup", "2024-01-25T00:00", 1, "o4"),  # cold item (never sold before)
        ("u2", "pot", "2024-01-30T08:00", 3, "o5"),  # repeat only
        ("u3", "mug", "2024-01-31T23:59", 1, "o6"),  # cold user
    ]
)


def test_interaction_weights_count_baskets_not_lines_or_units() -> None:
    log = purchase_log(
        [
            ("u1", "mug", "2024-01-01", 1, "o1"),
            ("u1", "mug", "2024-01-01", 5, "o1"),  # the same basket again: still one purchase
            ("u1", "mug", "2024-01-09", 100, "o2"),
            ("u2", "tea", "2024-01-03", 1, "o3"),
        ]
    )

    result = interaction_matrix(log)

    assert result.user_ids == ["u1", "u2"]
    assert result.item_ids == ["mug", "tea"]
    assert result.matrix.dtype == np.float32
    assert result.matrix.toarray() == pytest.approx(np.array([[np.log1p(2), 0], [0, np.log1p(1)]]))


def test_interaction_matrix_on_given_items_drops_other_items_and_their_only_buyers() -> None:
    result = interaction_matrix(LOG, items=["pot", "tea", "shoe"])

    assert result.item_ids == ["pot", "tea", "shoe"]
    assert result.user_ids == ["u1", "u2"], "u3 bought only a mug"
    assert (result.matrix.toarray() > 0).tolist() == [[True, True, False], [True, True, False]]


def test_basket_matrix_is_binary_per_order() -> None:
    baskets = basket_matrix(LOG, items=["mug", "tea", "pot", "cup"])

    assert baskets.shape == (6, 4)
    assert baskets.toarray().tolist()[0] == [1, 1, 0, 0]
    assert set(baskets.data) == {1.0}


def test_a_log_with_columns_of_different_lengths_is_refused() -> None:
    with pytest.raises(ValueError, match="one value per row"):
        PurchaseLog(
            user_ids=np.array(["u1", "u2"], dtype=object),
            item_ids=np.array(["mug"], dtype=object),
            timestamps=np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[s]"),
            quantities=np.ones(2, dtype=np.float32),
            basket_ids=np.array(["o1", "o2"], dtype=object),
        )


def test_the_split_puts_every_line_on_exactly_one_side_of_the_cutoff() -> None:
    split = temporal_split(LOG, test_days=7)

    assert split.cutoff == np.datetime64("2024-01-25T00:00:00")
    assert split.train.timestamps.max() < split.cutoff
    assert split.test.timestamps.min() >= split.cutoff
    assert len(split.train) + len(split.test) == len(LOG)
    assert sorted(split.train.basket_ids.tolist() + split.test.basket_ids.tolist()) == sorted(LOG.basket_ids.tolist())


def test_no_test_period_purchase_leaks_into_the_training_matrix() -> None:
    data = evaluation_set(temporal_split(LOG, test_days=7))

    assert data.train.item_ids == ["mug", "pot", "tea"], "the cup is first sold in the test period"
    u1 = data.train.user_ids.index("u1")
    bought = {data.train.item_ids[i] for i in data.train.matrix[u1].indices}
    assert bought == {"mug", "tea"}, "u1's pot and repeat tea are test purchases"
    assert data.train.matrix[u1, data.train.item_ids.index("mug")] == pytest.approx(np.log1p(2))
    assert "u3" not in data.train.user_ids


def test_ground_truth_is_the_new_items_of_the_test_period_only() -> None:
    data = evaluation_set(temporal_split(LOG, test_days=7))

    assert [data.train.user_ids[row] for row in data.test_users] == ["u1"]
    assert [data.train.item_ids[i] for i in data.truth[0].indices] == ["pot"]
    assert data.cold_users == 1
    assert data.repeat_only_users == 1
    assert data.cold_item_lines == 1


def test_the_validation_split_never_sees_the_test_period() -> None:
    split = validation_split(LOG, test_days=7)

    assert split.cutoff == np.datetime64("2024-01-18T00:00:00")
    assert split.test.timestamps.max() < np.datetime64("2024-01-25T00:00:00")
    assert split.test.basket_ids.tolist() == ["o2"]


@pytest.mark.parametrize("days", [0, 400])
def test_a_split_that_leaves_one_side_empty_is_refused(days: int) -> None:
    with pytest.raises(ValueError):
        temporal_split(LOG, test_days=days)


def test_metrics_on_lists_with_known_answers() -> None:
    truth = sp.csr_matrix(
        np.array(
            [
                [1, 1, 0, 0, 0, 0],  # two items to find
                [0, 0, 0, 0, 0, 1],  # one
            ],
            dtype=np.float32,
        )
    )
    recommended = np.full((2, 20), -1)
    recommended[0, :3] = [1, 5, 0]  # hits at ranks 1 and 3
    recommended[1, :2] = [2, 3]  # no hit

    result = score(recommended, truth, items=6)

    ideal_first = 1 + 1 / np.log2(3)
    assert result.recall == pytest.approx((1.0 + 0.0) / 2)
    assert result.ndcg == pytest.approx(((1 + 1 / np.log2(4)) / ideal_first + 0.0) / 2)
    assert result.hit_rate == pytest.approx(0.5)
    assert result.coverage == pytest.approx(5 / 6)


def test_recall_is_capped_by_the_list_length() -> None:
    truth = sp.csr_matrix(np.ones((1, 30), dtype=np.float32))
    recommended = np.arange(20)[None, :]

    result = score(recommended, truth, items=30)

    assert result.recall == pytest.approx(1.0)
    assert result.ndcg == pytest.approx(1.0)


def test_evaluate_fits_on_training_data_and_scores_every_model() -> None:
    data = evaluation_set(temporal_split(LOG, test_days=7))
    seen: list[sp.csr_matrix] = []

    class Recording(Popularity):
        def fit(self, interactions: sp.csr_matrix) -> None:
            seen.append(interactions)
            super().fit(interactions)

    results = evaluate({"recording": Recording, "ease": MODELS["ease"]}, data)

    assert [result.name for result in results] == ["recording", "ease"]
    assert seen[0] is data.train.matrix
    popular = results[0].scores
    # u1 (history mug, tea) gets the one item left, the pot: a hit at rank 1.
    assert (popular.recall, popular.ndcg, popular.hit_rate) == (1.0, 1.0, 1.0)
    assert popular.coverage == pytest.approx(1 / 3)
    assert all(result.train_seconds >= 0 and result.recommend_seconds >= 0 for result in results)


def test_an_empty_evaluation_scores_zero() -> None:
    empty = EvaluationSet(
        train=interaction_matrix(LOG),
        test_users=np.zeros(0, dtype=np.int64),
        truth=sp.csr_matrix((0, 4), dtype=np.float32),
        cutoff=np.datetime64("2024-01-25"),
        cold_users=0,
        repeat_only_users=0,
        cold_item_lines=0,
    )

    assert evaluate({"popularity": Popularity}, empty)[0].scores.ndcg == 0.0
