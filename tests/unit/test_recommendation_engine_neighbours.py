"""Item neighbours: frequently bought together from baskets, text similarity from WordLlama, and their blend."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from patron.recommendations.engine.baskets import frequently_bought_together
from patron.recommendations.engine.content import blend, embed_texts, nearest_neighbours

A, B, C, D, E = range(5)


def baskets(*orders: list[int], items: int = 5) -> sp.csr_matrix:
    rows = [row for row, order in enumerate(orders) for _ in order]
    columns = [item for order in orders for item in order]
    return sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(orders), items))


def test_items_always_bought_together_come_first() -> None:
    # C is a best-seller that lands in almost every basket, including A's and B's.
    orders = baskets(*([[A, B, C]] * 4), *([[C, D]] * 10), *([[C, E]] * 10), [C], [A, B])

    indices, scores = frequently_bought_together(orders, 2)

    assert indices[A, 0] == B
    assert indices[B, 0] == A
    assert scores[A, 0] == pytest.approx(1.0), "A and B are never bought apart"
    assert indices[A, 1] == C
    assert scores[A, 1] < scores[A, 0]


def test_a_best_seller_does_not_crowd_out_a_specific_companion() -> None:
    orders = baskets(*([[D, E]] * 3), [D], *([[C, D]] * 4), *([[C, A]] * 40), *([[C, B]] * 40))

    indices, _ = frequently_bought_together(orders, 1)

    assert indices[E, 0] == D, "E's only companion"
    assert indices[D, 0] == E, "D shares more baskets with C (4) than E (3), but E goes nowhere without D"


def test_pairs_below_the_minimum_support_are_ignored() -> None:
    orders = baskets([A, B], [A, B], [A, C], [D], [E])

    indices, scores = frequently_bought_together(orders, 3, min_support=2)

    assert indices[A].tolist() == [B, -1, -1]
    assert indices[C].tolist() == [-1, -1, -1]
    assert np.isneginf(scores[A, 1:]).all()
    assert frequently_bought_together(orders, 3, min_support=1)[0][A].tolist() == [B, C, -1]


def test_an_item_is_never_its_own_companion() -> None:
    orders = baskets([A, B], [A, B], [A, A, B])

    indices, _ = frequently_bought_together(orders, 4)

    for item in range(5):
        assert item not in indices[item]


def test_text_embeddings_are_unit_vectors_and_empty_text_is_zero() -> None:
    vectors = embed_texts(["red wool scarf", "", "  ", "garden hose"])

    assert vectors.dtype == np.float32
    assert vectors.shape[0] == 4 and vectors.shape[1] >= 64
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 0.0, 0.0, 1.0], abs=1e-5)
    assert embed_texts([]).shape == (0, vectors.shape[1])


def test_similar_names_are_nearest_neighbours() -> None:
    names = ["red wool scarf", "garden hose with spray nozzle", "blue wool scarf", "hose reel for the garden"]

    indices, scores = nearest_neighbours(embed_texts(names), 1)

    assert indices[:, 0].tolist() == [2, 3, 0, 1]
    assert (scores[:, 0] > 0.3).all()


def test_nearest_neighbours_never_return_the_row_itself_and_skip_zero_vectors() -> None:
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=np.float32)

    indices, scores = nearest_neighbours(vectors, 3)

    assert indices[0].tolist() == [1, -1, -1], "orthogonal and empty rows are not neighbours"
    assert scores[0, 0] == pytest.approx(1.0)
    assert indices[3].tolist() == [-1, -1, -1]


def lists(rows: list[list[tuple[int, float]]], k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    indices = np.full((len(rows), k), -1)
    scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for row, pairs in enumerate(rows):
        for rank, (item, value) in enumerate(pairs):
            indices[row, rank], scores[row, rank] = item, value
    return indices, scores


def test_blend_rescales_each_list_and_adds_up_items_on_both() -> None:
    text = lists([[(B, 0.9), (C, 0.45)], [], [], [], []])
    together = lists([[(D, 40.0), (C, 40.0)], [], [], [], []])

    indices, scores = blend(text, together, second_weight=0.5, k=3)

    # C: 0.5 * (0.45 / 0.9) + 0.5 * 1 = 0.75; B: 0.5 * 1; D: 0.5 * 1.
    assert indices[0].tolist() == [C, B, D]
    assert scores[0].tolist() == pytest.approx([0.75, 0.5, 0.5])
    assert indices[1].tolist() == [-1, -1, -1]


@pytest.mark.parametrize(("weight", "expected"), [(0.0, [B, C, -1]), (1.0, [D, -1, -1])])
def test_blend_with_all_weight_on_one_side_keeps_that_list(weight: float, expected: list[int]) -> None:
    text = lists([[(B, 0.9), (C, 0.5)], [], [], [], []])
    together = lists([[(D, 3.0)], [], [], [], []])

    indices, _ = blend(text, together, second_weight=weight, k=3)

    assert indices[0].tolist() == expected


def test_blend_refuses_a_weight_outside_zero_to_one_and_lists_of_other_lengths() -> None:
    one = lists([[(B, 1.0)], [], [], [], []])
    with pytest.raises(ValueError):
        blend(one, one, second_weight=1.5, k=2)
    with pytest.raises(ValueError):
        blend(one, lists([[]]), second_weight=0.5, k=2)
