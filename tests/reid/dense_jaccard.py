"""Plain dense (N x N) reference of the k-reciprocal Jaccard distance + DBSCAN of spec §1.4.

It follows the loops of the official SPCL `compute_jaccard_distance` one to one (dense V, dense V_qe, dense
Jaccard matrix), in float64 NumPy, so that `reid.cluster` can be checked against it (tests) and timed against it
(bench). Deliberate differences from the official code, shared with `reid.cluster`:
- the kNN ranking is exact (float64 distances, ties broken by index) instead of faiss float32;
- the ranking has min(k1, N) columns, so N < k1 works (the official code would index with faiss's -1).
Memory is O(N^2): use it up to N ~ 10k only.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN


def dense_features(features: np.ndarray, normalize: bool) -> np.ndarray:
    """(N, H) -> (N, H) float64, rows L2-normalised when asked."""
    x = np.asarray(features, dtype=np.float64)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def dense_ranking(x: np.ndarray, k: int) -> np.ndarray:
    """(N, H) float64 -> (N, k) indices of the k nearest rows (self included), from the full distance matrix."""
    sq = (x * x).sum(1)
    dist = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)  # (N, N)
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


def k_reciprocal_neigh(ranking: np.ndarray, i: int, k: int) -> np.ndarray:
    """The official helper: indices j in the first k+1 columns of row i whose first k+1 columns hold i."""
    forward = ranking[i, :k + 1]
    backward = ranking[forward, :k + 1]
    return forward[np.where(backward == i)[0]]


def dense_jaccard_from_ranking(x: np.ndarray, ranking: np.ndarray, k1: int, k2: int) -> np.ndarray:
    """(N, H) features and (N, min(k1, N)) ranking -> (N, N) Jaccard distances."""
    n = len(x)
    nn_k1 = [k_reciprocal_neigh(ranking, i, k1) for i in range(n)]
    nn_half = [k_reciprocal_neigh(ranking, i, int(np.around(k1 / 2))) for i in range(n)]
    v = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        recip = nn_k1[i]
        expansion = recip
        for candidate in recip:
            cand = nn_half[candidate]
            if len(np.intersect1d(cand, recip)) > 2 / 3 * len(cand):
                expansion = np.append(expansion, cand)
        expansion = np.unique(expansion)
        if len(expansion) == 0:
            continue
        logits = -(2.0 - 2.0 * (x[expansion] @ x[i]))
        w = np.exp(logits - logits.max())
        v[i, expansion] = w / w.sum()
    if k2 != 1:
        v = np.stack([v[ranking[i, :k2]].mean(0) for i in range(n)])
    # Official inverted-index loop: only the columns in i's support can give a non-zero min.
    inv_index = [np.nonzero(v[:, k])[0] for k in range(n)]
    jaccard = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        temp_min = np.zeros(n, dtype=np.float64)
        for k in np.nonzero(v[i])[0]:
            temp_min[inv_index[k]] += np.minimum(v[i, k], v[inv_index[k], k])
        jaccard[i] = 1.0 - temp_min / (2.0 - temp_min)
    jaccard[jaccard < 0] = 0.0
    return jaccard


def dense_jaccard(features: np.ndarray, *, k1: int, k2: int, normalize: bool) -> np.ndarray:
    """(N, H) -> (N, N) k-reciprocal Jaccard distance, dense."""
    x = dense_features(features, normalize)
    return dense_jaccard_from_ranking(x, dense_ranking(x, min(k1, len(x))), k1, k2)


def dense_cluster(features: np.ndarray, *, eps: float, min_samples: int, k1: int, k2: int,
                  normalize: bool) -> np.ndarray:
    """(N, H) -> (N,) int64 DBSCAN labels on the dense Jaccard matrix, -1 for outliers."""
    dist = dense_jaccard(features, k1=k1, k2=k2, normalize=normalize)
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(dist).astype(np.int64)
