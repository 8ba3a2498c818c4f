"""Recommendation models on small hand-made purchase matrices where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from patron.recommendations.engine.models import (
    ALS,
    DEFAULT_MODEL,
    EASE,
    MODELS,
    CoOccurrence,
    ItemKNN,
    Popularity,
    Recommender,
)
from patron.recommendations.engine.ranking import top_k, top_k_sparse

A, B, C, D, E, F, G, H = range(8)


def matrix(baskets: list[list[int]], items: int = 8) -> sp.csr_matrix:
    """Users x items with a 1 for every item of the user's row."""
    rows = [row for row, bought in enumerate(baskets) for _ in bought]
    columns = [item for bought in baskets for item in bought]
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(baskets), items))


# Two tastes: A-D are bought together, E-H are bought together; C and G are the favourites of their group.
GROUPS = matrix(
    [[A, B, C, D]] * 6
    + [[A, C]] * 3
    + [[B, C, D]] * 3
    + [[E, F, G, H]] * 6
    + [[E, G]] * 3
    + [[F, G, H]] * 3
    + [[C, G]] * 2
)


# 64 factors for eight items would fit noise: on this data ALS gets as many factors as there are tastes.
SMALL = {**MODELS, "als": lambda: ALS(factors=2, iterations=30, threads=1)}


def fitted(name: str, interactions: sp.csr_matrix = GROUPS) -> Recommender:
    model = SMALL[name]()
    model.fit(interactions)
    return model


@pytest.mark.parametrize("name", list(MODELS))
def test_recommendations_keep_the_contract(name: str) -> None:
    model = fitted(name)
    history = matrix([[A], [E, F], [A, B, C, D, E, F, G], []])

    indices, scores = model.recommend(history, 5)

    assert indices.shape == scores.shape == (4, 5)
    assert indices.dtype.kind == "i"
    for row in range(4):
        bought = set(history[row].indices)
        found = [item for item in indices[row] if item >= 0]
        assert not bought & set(found), "never an item of the history"
        assert len(set(found)) == len(found)
        valid = indices[row] >= 0
        assert list(valid) == sorted(valid, reverse=True), "padding only at the end"
        assert np.all(np.isneginf(scores[row][~valid]))
        assert np.all(np.diff(scores[row][valid]) <= 0), "best first"
    assert list(indices[2]) == [H, -1, -1, -1, -1], "only one item left to recommend"


@pytest.mark.parametrize("name", list(MODELS))
def test_empty_history_gets_padding_except_for_popularity(name: str) -> None:
    indices, scores = fitted(name).recommend(matrix([[]]), 3)

    if name == "popularity":
        assert list(indices[0]) == [C, G, A] or list(indices[0]) == [C, G, B]
    else:
        assert list(indices[0]) == [-1, -1, -1]
        assert np.all(np.isneginf(scores))


@pytest.mark.parametrize("name", list(MODELS))
def test_similar_items_never_include_the_item_itself(name: str) -> None:
    indices, scores = fitted(name).similar(10)

    assert indices.shape == (8, 10)
    for item in range(8):
        assert item not in indices[item]
    assert np.all(indices[:, 7:] == -1), "only seven other items exist"
    assert np.all(np.isneginf(scores[:, 7:]))


@pytest.mark.parametrize("name", [name for name in MODELS if name != "popularity"])
def test_a_user_never_seen_in_training_gets_the_items_of_their_taste(name: str) -> None:
    new_users = matrix([[A, B], [E, F]])

    indices, _ = fitted(name).recommend(new_users, 2)

    assert set(indices[0]) == {C, D}
    assert set(indices[1]) == {G, H}


@pytest.mark.parametrize("name", [name for name in MODELS if name != "popularity"])
def test_an_item_s_neighbours_come_from_its_own_group(name: str) -> None:
    indices, _ = fitted(name).similar(3)

    assert set(indices[A]) <= {B, C, D}
    assert set(indices[H]) <= {E, F, G}


def test_popularity_ranks_by_number_of_buyers_not_units() -> None:
    interactions = matrix([[A], [A], [B], [B], [B], [C]])
    interactions[5, C] = 50.0  # one customer buying C many times is still one customer
    model = Popularity()
    model.fit(interactions)

    indices, scores = model.recommend(matrix([[], [B]]), 3)

    assert list(indices[0]) == [B, A, C]
    assert list(scores[0]) == [3, 2, 1]
    assert list(indices[1]) == [A, C, -1]


def test_cooccurrence_counts_customers_who_bought_both() -> None:
    interactions = matrix([[A, B], [A, B], [A, C], [C, D], [C, D], [C, D]])
    model = CoOccurrence()
    model.fit(interactions)

    indices, scores = model.recommend(matrix([[A]]), 3)

    assert list(indices[0]) == [B, C, -1], "D was never bought with A"
    assert list(scores[0][:2]) == [2, 1]


def test_cooccurrence_is_dominated_by_best_sellers_where_knn_is_not() -> None:
    """The baseline's known flaw: C, bought by everyone, outranks B, which A's buyers buy far more often."""
    interactions = matrix([[A, B]] * 3 + [[A, C]] * 4 + [[C, D]] * 30 + [[C, E]] * 30)
    history = matrix([[A]])
    cooccurrence, knn = CoOccurrence(), ItemKNN(shrink=0)
    cooccurrence.fit(interactions)
    knn.fit(interactions)

    assert cooccurrence.recommend(history, 1)[0][0, 0] == C
    assert knn.recommend(history, 1)[0][0, 0] == B


def test_item_knn_keeps_only_each_item_s_nearest_neighbours() -> None:
    model = ItemKNN(neighbours=2, shrink=0)
    model.fit(GROUPS)

    assert np.all(np.diff(model.similarity.indptr) <= 2)
    assert model.similar(3)[0][:, 2].tolist() == [-1] * 8


def test_ease_learns_that_a_and_b_are_always_bought_together() -> None:
    interactions = matrix([[A, B]] * 5 + [[A, B, C]] * 2 + [[C, D]] * 8 + [[D]] * 3)
    model = EASE(l2=1.0)
    model.fit(interactions)

    assert model.recommend(matrix([[A]]), 1)[0][0, 0] == B
    assert model.recommend(matrix([[B]]), 1)[0][0, 0] == A
    assert model.similar(1)[0][A, 0] == B
    assert np.allclose(np.diag(model.weights), 0.0)


def test_ease_with_a_huge_penalty_tends_to_scaled_cooccurrence() -> None:
    """With λ much larger than every count, B ≈ XᵀX / λ: the ranking of item-item co-occurrence."""
    interactions = matrix([[A, B]] * 4 + [[A, C]] * 2 + [[A, D]])
    model = EASE(l2=1e6)
    model.fit(interactions)

    assert model.recommend(matrix([[A]]), 3)[0][0].tolist() == [B, C, D]


def test_als_folds_in_a_new_user_without_changing_the_fitted_model() -> None:
    model = ALS(factors=4, iterations=30, regularization=0.01, threads=1)
    model.fit(GROUPS)
    factors = model.item_factors.copy()

    first = model.recommend(matrix([[A, B]]), 2)
    again = model.recommend(matrix([[A, B]]), 2)

    assert set(first[0][0]) == {C, D}
    assert np.array_equal(first[0], again[0])
    assert np.array_equal(model.item_factors, factors)


@pytest.mark.parametrize("name", list(MODELS))
def test_history_with_other_item_columns_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="item columns"):
        fitted(name).recommend(matrix([[A]], items=9), 3)


def test_the_default_model_is_one_of_the_strong_ones() -> None:
    assert DEFAULT_MODEL in MODELS
    assert DEFAULT_MODEL not in ("popularity", "cooccurrence")


def test_top_k_breaks_ties_by_index_and_pads_non_candidates() -> None:
    scores = np.array([[0.5, 0.9, 0.5, -np.inf, np.nan], [-np.inf] * 5], dtype=np.float32)

    indices, values = top_k(scores, 4)

    assert indices.tolist() == [[1, 0, 2, -1], [-1, -1, -1, -1]]
    assert values[0, :3].tolist() == [pytest.approx(0.9), 0.5, 0.5]
    assert np.isneginf(values[0, 3]) and np.all(np.isneginf(values[1]))


def test_top_k_pads_when_k_exceeds_the_columns() -> None:
    indices, values = top_k(np.array([[1.0, 2.0]], dtype=np.float32), 4)

    assert indices.tolist() == [[1, 0, -1, -1]]
    assert values[0, :2].tolist() == [2.0, 1.0]


def test_top_k_sparse_ranks_stored_entries_per_row() -> None:
    stored = sp.csr_matrix(np.array([[0, 3, 1, 2], [0, 0, 0, 0], [5, 0, 0, 5]], dtype=np.float32))

    indices, values = top_k_sparse(stored, 2)

    assert indices.tolist() == [[1, 3], [-1, -1], [0, 3]]
    assert values[0].tolist() == [3.0, 2.0]
