"""The faiss index: exact below the threshold, tuned IVF above it, ids in step through adds and removes."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from storage.index import VectorIndex, recall_at_k
from tests.storage.conftest import people


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    flat = faiss.IndexFlatL2(vectors.shape[1])
    flat.add(vectors)
    return ids[flat.search(queries, k)[1]]


def test_small_index_is_exact_and_returns_ids() -> None:
    _, x, _ = people(5, 4, dim=48)
    ids = np.arange(100, 120)
    index = VectorIndex(48, approximate_above=100)
    index.rebuild(ids, x)
    assert index.kind == "exact" and len(index) == 20
    dist, found = index.search(x[7], 3)
    assert found[0, 0] == 107 and dist[0, 0] == pytest.approx(0.0, abs=1e-4)
    np.testing.assert_array_equal(found[0], exact_top(x, ids, x[7:8], 3)[0])
    assert index.remove([107, 999]) == 1 and 107 not in index
    assert 107 not in index.search(x[7], 5)[1][0]
    np.testing.assert_allclose(index.reconstruct([108]), x[8:9])


def test_large_index_switches_to_ivf_with_the_recall_target_on_fresh_queries() -> None:
    centres, x, _ = people(300, 10, dim=64, spread=0.3, seed=2)
    ids = np.arange(1, len(x) + 1) * 3
    index = VectorIndex(64, approximate_above=1000, target_recall=0.99, tune_queries=100)
    index.rebuild(ids, x)
    assert index.kind == "ivf" and index.nprobe >= 1 and index.measured_recall >= 0.99
    queries = (centres[:100] + 0.3 * np.random.default_rng(9).normal(size=(100, 64))).astype(np.float32)
    truth = exact_top(x, ids, queries, 5)
    found = index.search(queries, 5)[1]
    assert recall_at_k(truth, found, 5) >= 0.97  # unseen queries: the build-time estimate holds within a little


def test_growing_past_the_threshold_rebuilds_and_shrinking_goes_back_to_exact() -> None:
    _, x, _ = people(60, 10, dim=32, seed=4)
    index = VectorIndex(32, approximate_above=400)
    index.add(np.arange(300), x[:300])
    assert index.kind == "exact"
    index.add(np.arange(300, 600), x[300:])
    assert index.kind == "ivf" and index.ids() == set(range(600))
    np.testing.assert_allclose(index.reconstruct([450]), x[450:451])
    with pytest.raises(ValueError, match="already indexed"):
        index.add([5], x[:1])
    index.remove(np.arange(0, 450))
    assert index.kind == "exact" and index.ids() == set(range(450, 600))
    assert index.search(x[500], 1)[1][0, 0] == 500


def test_empty_index_search_and_wrong_dimension() -> None:
    index = VectorIndex(16)
    dist, ids = index.search(np.zeros(16, np.float32), 2)
    assert (ids == -1).all() and np.isinf(dist).all()
    with pytest.raises(ValueError, match="dimension 16"):
        index.add([1], np.zeros((1, 8), np.float32))


def test_recall_at_k_counts_overlap_without_the_query_itself() -> None:
    truth = np.array([[7, 1, 2, 3]])
    assert recall_at_k(truth, np.array([[7, 1, 2, 9]]), 3, exclude=np.array([7])) == pytest.approx(2 / 3)
    assert recall_at_k(truth, np.array([[1, 2, 3, 7]]), 3, exclude=np.array([7])) == 1.0
