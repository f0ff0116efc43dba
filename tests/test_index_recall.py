"""The HNSW index finds an entry from its own descriptor, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from livecat.corpus.build import build_index
from livecat.corpus.store import IndexSettings, load_index


def _descriptor_like(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Clustered vectors, like descriptors of many takes of similar sounds."""
    centres = rng.standard_normal((500, dim)) * 2.0
    which = rng.integers(0, centres.shape[0], n)
    return (centres[which] + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)


@pytest.mark.slow
def test_recall_at_1_on_100k_entries_is_at_least_099(tmp_path, rng):
    n, dim = 100_000, 24
    vectors = _descriptor_like(rng, n, dim)
    settings = IndexSettings()
    build_index(tmp_path / "index.hnsw", vectors, settings)
    index = load_index(tmp_path / "index.hnsw", dim=dim, count=n, settings=settings)

    queries = rng.choice(n, 2000, replace=False)
    labels, dist = index.knn_query(vectors[queries], k=1)
    # Brute force: the exact nearest distance (0 for the entry itself, unless duplicated).
    exact = np.empty(queries.size)
    for start in range(0, queries.size, 250):
        q = vectors[queries[start : start + 250]]
        d = (q * q).sum(1)[:, None] - 2 * q @ vectors.T + (vectors * vectors).sum(1)[None, :]
        exact[start : start + 250] = np.maximum(d.min(axis=1), 0)
    found = (labels[:, 0] == queries) | (dist[:, 0] <= exact + 1e-4)
    recall = found.mean()
    print(f"recall@1 = {recall:.4f} over {queries.size} queries on {n} entries")
    assert recall >= 0.99
