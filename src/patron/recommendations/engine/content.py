"""Text similarity between products, from the static WordLlama embeddings shipped inside its PyPI package."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import wordllama
from wordllama import WordLlama
from wordllama.inference import WordLlamaInference

from patron.recommendations.engine.ranking import rank_blocks, top_k_sparse, without


@cache
def _model() -> WordLlamaInference:
    # The weights are inside the package: loading never goes to the network.
    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """n x d float32 vectors of unit length (an empty text gets the zero vector)."""
    model = _model()
    cleaned = [text.strip() for text in texts]
    vectors = np.zeros((len(cleaned), model.embedding.shape[1]), dtype=np.float32)
    filled = [row for row, text in enumerate(cleaned) if text]
    if filled:
        vectors[filled] = model.embed([cleaned[row] for row in filled], norm=True)
    return vectors


def nearest_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most cosine-similar other rows, best first (-1 / -inf padding)."""
    norms = np.linalg.norm(vectors, axis=1)
    unit = (vectors / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)

    def block(start: int, stop: int) -> np.ndarray:
        diagonal = np.arange(start, stop)
        return without(unit[start:stop] @ unit.T, diagonal - start, diagonal)

    return rank_blocks(len(unit), k, block)


def blend(
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    *,
    second_weight: float,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Two neighbour lists over the same items merged into one: each row's scores are divided by that row's
    best score, then weighted (1 - second_weight, second_weight) and summed for items on both lists."""
    if not 0.0 <= second_weight <= 1.0:
        raise ValueError("second_weight must be between 0 and 1.")
    items = len(first[0])
    if len(second[0]) != items:
        raise ValueError("Both neighbour lists must have one row per item.")
    parts = []
    for (indices, scores), weight in ((first, 1.0 - second_weight), (second, second_weight)):
        scores = np.asarray(scores, dtype=np.float64)
        valid = (np.asarray(indices) >= 0) & np.isfinite(scores)
        scale = np.max(np.abs(np.where(valid, scores, 0.0)), axis=1, initial=0.0)
        rescaled = np.divide(scores, scale[:, None], out=np.zeros_like(scores), where=scale[:, None] > 0)
        rows = np.broadcast_to(np.arange(len(indices))[:, None], indices.shape)
        parts.append((rows[valid], np.asarray(indices)[valid], weight * rescaled[valid]))
    rows, columns, values = (np.concatenate(part) for part in zip(*parts, strict=True))
    merged = sp.csr_matrix((values, (rows, columns)), shape=(items, items))
    return top_k_sparse(merged, k)
