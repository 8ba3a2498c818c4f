"""Top-k selection over score matrices, the one place where "best first, padded with -1 / -inf" is decided.

A score of -inf (or NaN) marks an item that is not a candidate. Ties are broken by the lower item index, so the
same scores always give the same lists.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

# Rows scored at once: a block of 2,048 rows over 5,000 items is 40 MB of float32.
BLOCK_ROWS = 2048


def padding(rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((rows, k), -1, dtype=np.int64), np.full((rows, k), -np.inf, dtype=np.float32)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best column indices and scores, best first; non-candidates become -1 / -inf."""
    rows, columns = scores.shape
    indices, values = padding(rows, k)
    width = min(k, columns)
    if rows == 0 or width == 0:
        return indices, values
    scores = np.where(np.isnan(scores), -np.inf, scores).astype(np.float32, copy=False)
    if width < columns:
        picked = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    else:
        picked = np.broadcast_to(np.arange(columns), (rows, columns))
    picked_scores = np.take_along_axis(scores, picked, axis=1)
    order = np.lexsort((picked, -picked_scores), axis=1)
    picked = np.take_along_axis(picked, order, axis=1)
    picked_scores = np.take_along_axis(picked_scores, order, axis=1)
    candidate = np.isfinite(picked_scores)
    indices[:, :width] = np.where(candidate, picked, -1)
    values[:, :width] = np.where(candidate, picked_scores, -np.inf)
    return indices, values


def top_k_sparse(matrix: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k largest stored entries (explicit zeros are not candidates), best first, padded."""
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    rows = matrix.shape[0]
    indices, values = padding(rows, k)
    if matrix.nnz == 0 or k == 0:
        return indices, values
    row_of = np.repeat(np.arange(rows), np.diff(matrix.indptr))
    order = np.lexsort((matrix.indices, -matrix.data, row_of))
    row_of = row_of[order]
    rank = np.arange(len(order)) - matrix.indptr[row_of]
    keep = rank < k
    indices[row_of[keep], rank[keep]] = matrix.indices[order][keep]
    values[row_of[keep], rank[keep]] = matrix.data[order][keep]
    return indices, values


def rank_blocks(rows: int, k: int, block_scores: Callable[[int, int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """top_k over a score matrix computed block by block (`block_scores(start, stop)`), to bound memory."""
    indices, values = padding(rows, k)
    for start in range(0, rows, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, rows)
        indices[start:stop], values[start:stop] = top_k(block_scores(start, stop), k)
    return indices, values


def without(scores: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """`scores` with the given cells and every zero score made non-candidates (in place)."""
    scores[scores == 0] = -np.inf
    scores[rows, columns] = -np.inf
    return scores
