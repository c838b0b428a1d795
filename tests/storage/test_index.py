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


def test_approximate_index_keeps_exact_vectors_and_distances_through_remove_and_re_add() -> None:
    centres, x, _ = people(150, 10, dim=64, spread=0.3, seed=5)
    ids = np.arange(len(x)) * 2 + 1
    index = VectorIndex(64, approximate_above=1000, tune_queries=100)
    index.rebuild(ids, x)
    assert index.kind == "ivf"
    dist, found = index.search(x[:20], 5)
    truth_dist = ((x[:20, None, :] - x[exact_top(x, np.arange(len(x)), x[:20], 5)]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, truth_dist, rtol=1e-5, atol=1e-4)  # re-ranked: exact squared L2
    np.testing.assert_array_equal(found[:, 0], ids[:20])
    np.testing.assert_array_equal(index.reconstruct(ids[[3, 700]]), x[[3, 700]])
    # a relabelled embedding: removed, then added again under the same id with another vector
    moved = (centres[0] + 0.01).astype(np.float32)
    assert index.remove([ids[3], 999_999]) == 1 and ids[3] not in index
    assert ids[3] not in index.search(x[3], 10)[1][0]
    index.add([ids[3]], moved[None, :])
    assert index.kind == "ivf" and len(index) == len(x)
    np.testing.assert_array_equal(index.reconstruct([ids[3]])[0], moved)
    assert index.search(moved, 1)[1][0, 0] == ids[3]
    exported_ids, exported = index.export()
    np.testing.assert_array_equal(exported_ids, ids)
    expected = x.copy()
    expected[3] = moved
    np.testing.assert_array_equal(exported, expected)


def test_removing_most_of_a_large_index_compacts_it_and_keeps_recall() -> None:
    centres, x, _ = people(300, 10, dim=64, spread=0.3, seed=6)
    ids = np.arange(len(x))
    index = VectorIndex(64, approximate_above=800, tune_queries=100)
    index.rebuild(ids, x)
    gone = ids[ids % 3 != 0]  # two thirds removed: more removed rows than live ones, so it is rebuilt
    index.remove(gone)
    assert index.kind == "ivf" and index.ids() == set(ids[ids % 3 == 0].tolist())
    kept = x[ids % 3 == 0]
    queries = (centres[:100] + 0.3 * np.random.default_rng(3).normal(size=(100, 64))).astype(np.float32)
    found = index.search(queries, 5)[1]
    assert not set(found.ravel().tolist()) & set(gone.tolist())
    assert recall_at_k(exact_top(kept, ids[ids % 3 == 0], queries, 5), found, 5) >= 0.97
