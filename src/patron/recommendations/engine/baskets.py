"""Frequently bought together: items that share baskets (orders), not merely customers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from patron.recommendations.engine.ranking import top_k_sparse


def frequently_bought_together(
    baskets: sp.csr_matrix, k: int, *, min_support: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Every item's top-k basket companions (items x k, -1 / -inf padding), never itself.

    A pair's score is the cosine of the two items' basket columns, co(a, b) / sqrt(n(a) n(b)): 1 when the two
    are only ever bought together, and small for a best-seller that lands in many baskets with everything.
    Pairs seen together in fewer than `min_support` baskets are ignored as chance.
    """
    bought = sp.csr_matrix(baskets > 0, dtype=np.float32)
    together = sp.csr_matrix(bought.T @ bought)
    counts = np.asarray(bought.sum(axis=0)).ravel()
    together.setdiag(0)
    together.data[together.data < min_support] = 0
    together.eliminate_zeros()
    rows = np.repeat(np.arange(together.shape[0]), np.diff(together.indptr))
    together.data = together.data / np.sqrt(counts[rows] * counts[together.indices])
    return top_k_sparse(together, k)
