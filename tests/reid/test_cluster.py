"""Sparse k-reciprocal Jaccard + DBSCAN (reid.cluster) against the plain dense reference, and its edge cases."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from reid.cluster import (ClusteringError, ClusterResult, cluster_level, cluster_levels, jaccard_distance,
                          prototypes)
from tests.reid.dense_jaccard import dense_cluster, dense_jaccard


def blobs(seed: int, n: int, num_blobs: int, dim: int = 32, spread: float = 0.3) -> np.ndarray:
    """(n, dim) float32 points around num_blobs random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_blobs, dim))
    return (centres[rng.integers(0, num_blobs, n)] + spread * rng.normal(size=(n, dim))).astype(np.float32)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True if a and b are the same partition (outliers -1 in both), whatever the cluster numbers."""
    if not np.array_equal(a < 0, b < 0):
        return False
    pairs = np.unique(np.stack([a[a >= 0], b[b >= 0]]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


CASES = [  # (seed, n, num_blobs, spread, dim)
    (0, 60, 4, 0.3, 32),
    (1, 200, 10, 0.5, 32),
    (2, 400, 20, 0.4, 32),
    (3, 300, 1, 1.0, 16),    # one Gaussian cloud: no structure, many outliers
    (4, 150, 30, 0.2, 64),   # clusters smaller than k1
]


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_jaccard_matches_dense_reference(case: tuple, normalize: bool) -> None:
    seed, n, num_blobs, spread, dim = case
    x = blobs(seed, n, num_blobs, dim, spread)
    ours = jaccard_distance(x, k1=20, k2=6, normalize=normalize).tocoo()
    ref = dense_jaccard(x, k1=20, k2=6, normalize=normalize)
    np.testing.assert_allclose(ours.data, ref[ours.row, ours.col], atol=1e-12)
    stored = np.zeros(ref.shape, dtype=bool)
    stored[ours.row, ours.col] = True
    assert (ref[~stored] >= 1.0 - 1e-12).all()  # every pair left out is at distance 1
    assert stored.diagonal().all()


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("eps,min_samples", [(0.6, 4), (0.8, 2)])
def test_labels_match_dense_reference(case: tuple, normalize: bool, eps: float, min_samples: int) -> None:
    seed, n, num_blobs, spread, dim = case
    x = blobs(seed, n, num_blobs, dim, spread)
    ours = cluster_level(x, eps=eps, min_samples=min_samples, k1=20, k2=6, normalize=normalize)
    ref = dense_cluster(x, eps=eps, min_samples=min_samples, k1=20, k2=6, normalize=normalize)
    assert ours.dtype == np.int64
    assert np.array_equal(ours, ref)  # identical, not only the same partition: DBSCAN visits in index order


def test_ivf_search_gives_the_exact_labels_on_clustered_data() -> None:
    x = blobs(5, 400, 20)
    exact = cluster_level(x, eps=0.6, min_samples=4, knn="exact")
    assert np.array_equal(cluster_level(x, eps=0.6, min_samples=4, knn="ivf"), exact)


def test_clusters_recover_well_separated_blobs() -> None:
    rng = np.random.default_rng(6)
    truth = np.repeat(np.arange(8), 40)
    x = (rng.normal(size=(8, 64))[truth] + 0.1 * rng.normal(size=(320, 64))).astype(np.float32)
    labels = cluster_level(x, eps=0.6, min_samples=4)
    assert same_partition(labels, truth)


def test_normalize_makes_the_result_scale_free_and_raw_mode_is_not() -> None:
    x = blobs(7, 300, 15, spread=0.5)
    scaled = x * np.linspace(0.5, 3.0, len(x), dtype=np.float32)[:, None]
    assert np.array_equal(cluster_level(x, eps=0.6, min_samples=4),
                          cluster_level(scaled, eps=0.6, min_samples=4))
    raw = jaccard_distance(x, normalize=False)
    raw_scaled = jaccard_distance(scaled, normalize=False)
    assert raw.nnz != raw_scaled.nnz or not np.allclose(raw.data, raw_scaled.data)


def test_deterministic() -> None:
    x = blobs(8, 400, 12, spread=0.6)
    first = cluster_level(x, eps=0.6, min_samples=4)
    assert np.array_equal(first, cluster_level(x.copy(), eps=0.6, min_samples=4))


def test_sparse_storage_stays_near_n_times_k() -> None:
    n, k1 = 3000, 20
    x = blobs(9, n, 150, spread=0.3)
    tracemalloc.start()
    dist = jaccard_distance(x, k1=k1, k2=6)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert dist.nnz <= n * k1 * 6  # about (cluster size) pairs a row, never N x N
    assert dist.nnz < n * n / 20
    assert peak < n * n * 8 / 2  # well below a single dense float64 N x N matrix (72 MB here)
    assert np.abs(dist - dist.T).max() < 1e-12


def test_explicit_zero_distances_are_neighbours() -> None:
    """Exact duplicates are at Jaccard distance 0; a sparse matrix must keep those zeros for DBSCAN."""
    rng = np.random.default_rng(10)
    points = rng.normal(size=(6, 16))
    x = np.repeat(points, 5, axis=0).astype(np.float32)  # 6 points, 5 copies each
    dist = jaccard_distance(x, k1=6, k2=1).tocoo()
    assert ((dist.data == 0) & (dist.row != dist.col)).sum() >= 20  # stored as explicit zeros (clipped at 0)
    labels = cluster_level(x, eps=0.01, min_samples=4, k1=6, k2=1)
    assert labels.max() >= 0
    assert np.array_equal(labels, dense_cluster(x, eps=0.01, min_samples=4, k1=6, k2=1, normalize=True))


def test_duplicates_inside_a_cluster_are_fine() -> None:
    x = blobs(11, 200, 8)
    x = np.concatenate([x, np.repeat(x[:1], 30, axis=0)])  # 30 copies of point 0: more than k1
    labels = cluster_level(x, eps=0.6, min_samples=4)
    assert len(np.unique(labels[200:])) == 1 and labels[200] == labels[0] and labels[0] >= 0
    assert np.array_equal(labels, cluster_level(x, eps=0.6, min_samples=4))


@pytest.mark.parametrize("n", [1, 2, 5, 19])
def test_fewer_points_than_k1(n: int) -> None:
    x = blobs(12, n, 2)
    labels = cluster_level(x, eps=0.6, min_samples=2, k1=20, k2=6)
    assert labels.shape == (n,)
    assert np.array_equal(labels, dense_cluster(x, eps=0.6, min_samples=2, k1=20, k2=6, normalize=True))


def test_prototypes_are_means_without_outliers() -> None:
    x = np.array([[0, 0], [2, 0], [10, 10], [0, 4], [5, 5]], dtype=np.float32)
    labels = np.array([0, 0, -1, 1, 1])
    np.testing.assert_allclose(prototypes(x, labels), [[1, 0], [2.5, 4.5]])
    assert prototypes(x, np.full(5, -1)).shape == (0, 2)
    with pytest.raises(ClusteringError, match="contiguous"):
        prototypes(x, np.array([0, 0, -1, 2, 2]))


def test_all_levels_filter() -> None:
    levels = {name: blobs(13 + seed, 300, 10, spread=1.2) for seed, name in enumerate(("joint", "component", "limb"))}
    result = cluster_levels(levels, eps=0.6, min_samples=4)
    assert isinstance(result, ClusterResult)
    outliers = {name: set(np.nonzero(lab < 0)[0]) for name, lab in result.labels.items()}
    assert len(set(map(frozenset, outliers.values()))) == 3 and all(outliers.values())  # each level its own
    assert set(np.nonzero(~result.keep)[0]) == set.union(*outliers.values())
    assert result.num_kept == 300 - len(set.union(*outliers.values()))
    for name, lab in result.labels.items():
        assert np.array_equal(lab, cluster_level(levels[name], eps=0.6, min_samples=4))
        assert result.counts[name] == lab.max() + 1 == len(result.prototypes[name])
        assert result.prototypes[name].dtype == np.float32
        np.testing.assert_allclose(result.prototypes[name], prototypes(levels[name], lab))


def test_all_outliers_gives_an_empty_result() -> None:
    x = blobs(14, 20, 5)
    result = cluster_levels({"joint": x, "limb": x[:, :8]}, eps=0.6, min_samples=50)
    assert result.counts == {"joint": 0, "limb": 0}
    assert not result.keep.any() and result.num_kept == 0
    assert result.prototypes["joint"].shape == (0, 32)


@pytest.mark.parametrize("bad,match", [
    (dict(features=np.full((10, 4), np.nan)), "NaN"),
    (dict(features=np.zeros((10,))), "shape"),
    (dict(eps=1.0), "eps"),
    (dict(min_samples=0), "min_samples"),
    (dict(k1=0), "k1"),
    (dict(knn="hnsw"), "knn"),
])
def test_bad_input_is_explained(bad: dict, match: str) -> None:
    args = dict(features=blobs(15, 30, 3), eps=0.6, min_samples=2, k1=20, k2=6, knn="auto")
    args.update(bad)
    with pytest.raises(ClusteringError, match=match):
        cluster_level(args.pop("features"), **args)


def test_levels_must_have_the_same_windows() -> None:
    with pytest.raises(ClusteringError, match="different numbers"):
        cluster_levels({"joint": blobs(16, 30, 3), "limb": blobs(16, 31, 3)}, eps=0.6, min_samples=2)


def test_grouped_clustering_labels_whole_sequences() -> None:
    """Sequences whose means sit in 3 blobs, windows scattered around them far more than the blobs are apart:
    clustering the sequence means recovers the 3 blobs and every window carries its sequence's label."""
    rng = np.random.default_rng(17)
    centres = rng.normal(size=(3, 32))
    seq_identity = np.repeat(np.arange(3), 6)  # 18 sequences, 6 per blob
    seq_means = centres[seq_identity] + 0.1 * rng.normal(size=(18, 32))
    groups = np.repeat(np.arange(18), 20)  # 20 windows each
    noise = 3.0 * rng.normal(size=(len(groups), 32))
    noise -= np.stack([noise[groups == g].mean(0) for g in range(18)])[groups]  # each sequence's mean is exact
    windows = (seq_means[groups] + noise).astype(np.float32)
    levels = {"joint": windows, "limb": windows[:, :16]}

    result = cluster_levels(levels, eps=0.5, min_samples=2, k1=6, k2=2, groups=groups)
    for labels in result.labels.values():
        assert same_partition(labels, seq_identity[groups])
    np.testing.assert_allclose(result.prototypes["joint"], prototypes(windows, result.labels["joint"]))
    # The same windows clustered one by one do not find the blobs: grouping is what recovers them.
    alone = cluster_levels(levels, eps=0.5, min_samples=2, k1=6, k2=2)
    assert not same_partition(alone.labels["joint"], seq_identity[groups])
    # Every window its own group is plain window clustering.
    singles = cluster_levels(levels, eps=0.5, min_samples=2, k1=6, k2=2, groups=np.arange(len(groups)))
    assert all(np.array_equal(singles.labels[n], alone.labels[n]) for n in levels)
    with pytest.raises(ClusteringError, match="one id per window"):
        cluster_levels(levels, eps=0.5, min_samples=2, groups=groups[:-1])


def test_a_few_sequences_are_not_merged_into_one() -> None:
    """Four walks of four people (a short site recording): with k1 above the population every pair looks
    reciprocal and all walks merge into one pseudo-identity, which leaves nothing to contrast. The neighbourhood
    is capped at half the sequences, so the walks stay apart (mutual nearest neighbours may still pair up)."""
    rng = np.random.default_rng(18)
    groups = np.repeat(np.arange(4), 7)
    means = 5.0 + rng.normal(size=(4, 16))  # encoder features share a large common part
    windows = (means[groups] + 0.05 * rng.normal(size=(28, 16))).astype(np.float32)
    assert cluster_level(prototypes(windows, groups), eps=0.45, min_samples=1, k1=6, k2=2).max() == 0  # uncapped
    result = cluster_levels({"joint": windows}, eps=0.45, min_samples=1, k1=6, k2=2, groups=groups)
    labels = result.labels["joint"]
    assert result.counts["joint"] >= 3 and result.keep.all()
    assert all(len(set(labels[groups == g])) == 1 for g in range(4))
