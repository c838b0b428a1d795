"""Pseudo-labels and prototypes of spec §1.4: sparse k-reciprocal Jaccard distance + DBSCAN, per level.

The distance is the re-ranking of Zhong et al. 2017 as implemented in SPCL's `compute_jaccard_distance`, which
Hi-MPC calls with k1=20, k2=6. The official code builds three dense N x N float matrices (V, V_qe, Jaccard); at
200k windows that is 480 GB, so everything here is sparse and O(N * k) in memory:
- the kNN comes from faiss (IndexFlatL2, CPU) up to EXACT_KNN_MAX rows and from an inverted file (faiss k-means
  cells, BLAS search per cell) above, since exact search is O(N^2 H); candidates are re-ranked in float64, so
  float32 rounding cannot swap near-tied neighbours and ties go to the lower index (the same ranking a dense
  float64 argsort gives);
- V and V_qe are CSR matrices holding only the expansion sets (about k1 and k2 * k1 entries a row);
- the Jaccard matrix holds only the pairs whose V_qe supports overlap. Every other pair has a distance of
  exactly 1, which no DBSCAN eps < 1 accepts, so leaving them out changes nothing (eps must be < 1).

Off-by-one of the official code, kept on purpose: it searches k1 neighbours (self included) and then slices
`[:k1+1]`, so R(i, k1) is built from k1 columns (self + k1-1 neighbours), while R(j, round(k1/2)) gets
round(k1/2)+1 columns. We do the same, so the published eps / min_samples keep their meaning. When N < k1 every
list is clipped to N (the official code would index with faiss's -1 padding). DBSCAN gets only the pairs <= eps.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import faiss
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee
from sklearn.cluster import DBSCAN

from core.errors import SkelwatchError

logger = logging.getLogger(__name__)

RERANK_MARGIN = 5      # extra faiss candidates re-ranked in float64; a swap would need a float32 error this deep
EXACT_KNN_MAX = 5_000  # above this many rows knn="auto" uses the inverted file: exact search is O(N^2 H)
IVF_LISTS_PER_SQRT_N = 2
IVF_TRAIN_PER_LIST = 25
IVF_KMEANS_ITERATIONS = 6
IVF_NPROBE = 2  # nearest cells probed per point; the bench measures the recall
KNN_METHODS = ("auto", "exact", "ivf")
RERANK_BLOCK = 128
TRIPLES_PER_BLOCK = 500_000  # (i, k, j) terms per Jaccard block, about 30 MB of temporaries
SLOT_TABLE = 16_000_000  # pair slots per Jaccard block (rows x N), at most 128 MB of int64
SLOT_ROWS = 256  # and at most this many rows, so a small N never gets an N x N table


class ClusteringError(SkelwatchError):
    """Features or clustering parameters that cannot be clustered."""


@dataclass(frozen=True)
class ClusterResult:
    """Pseudo-labels of every level and the samples that survive the all-levels outlier filter.

    Attributes:
        labels: level -> (N,) int64, 0..K_l-1, -1 for an outlier.
        prototypes: level -> (K_l, H) float32 cluster means (outliers excluded).
        keep: (N,) bool, True where the sample is a non-outlier at every level (spec §1.4 step 5).
        counts: level -> K_l, the number of clusters.
    """

    labels: dict[str, np.ndarray]
    prototypes: dict[str, np.ndarray]
    keep: np.ndarray
    counts: dict[str, int]

    @property
    def num_kept(self) -> int:
        return int(self.keep.sum())


def _check_features(features: np.ndarray, name: str = "features") -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ClusteringError(f"{name} must be a non-empty (N, H) array, got shape {x.shape}; "
                              "pass one row per training window")
    if not np.isfinite(x).all():
        raise ClusteringError(f"{name} hold {int((~np.isfinite(x)).sum())} NaN/inf values; the encoder has "
                              "diverged: lower the learning rate or resume from an earlier checkpoint")
    return x


def _check_params(k1: int, k2: int, eps: float | None = None, min_samples: int | None = None) -> None:
    if int(k1) != k1 or k1 < 1 or int(k2) != k2 or k2 < 1:
        raise ClusteringError(f"k1={k1} and k2={k2} must be integers >= 1 (the spec uses k1=20, k2=6)")
    if eps is not None and not 0.0 < eps < 1.0:
        raise ClusteringError(f"eps={eps} must lie in (0, 1): pairs with no shared k-reciprocal neighbour "
                              "have a Jaccard distance of 1 and are not stored (the spec uses 0.6-0.8)")
    if min_samples is not None and (int(min_samples) != min_samples or min_samples < 1):
        raise ClusteringError(f"min_samples={min_samples} must be an integer >= 1 (the spec uses 2 or 4)")


def prepare_features(features: np.ndarray, normalize: bool) -> np.ndarray:
    """(N, H) -> (N, H) float64, rows L2-normalised when asked (a zero row stays zero)."""
    x = np.asarray(features, dtype=np.float64)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def _faiss_candidates(x32: np.ndarray, kc: int, exact: bool) -> np.ndarray:
    """(N, H) float32 -> (N, kc) neighbour candidates, -1 where an inverted-file search found too few.

    Exact: faiss IndexFlatL2. Otherwise an inverted file searched cell by cell with one GEMM per cell: faiss's
    IndexIVFFlat scans lists one query at a time and was barely faster than the flat search here. Each point
    probes its IVF_NPROBE nearest k-means cells; a cell's members are scored against the union of their cells.
    """
    n, h = x32.shape
    if exact:
        index = faiss.IndexFlatL2(h)
        index.add(x32)
        return index.search(x32, kc)[1]
    nlist = max(1, min(int(IVF_LISTS_PER_SQRT_N * np.sqrt(n)), n // IVF_TRAIN_PER_LIST))
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, IVF_TRAIN_PER_LIST * nlist), replace=False))
    kmeans = faiss.Kmeans(h, nlist, niter=IVF_KMEANS_ITERATIONS, seed=1234, min_points_per_centroid=1)
    kmeans.train(x32[sample])
    probes = kmeans.index.search(x32, min(nlist, IVF_NPROBE))[1]  # (N, p) nearest cells, own cell first
    order = np.argsort(probes[:, 0], kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(probes[:, 0], minlength=nlist))]
    sq = np.einsum("nh,nh->n", x32, x32)
    out = np.full((n, kc), -1, dtype=np.int64)
    for cell in range(nlist):
        members = order[bounds[cell]:bounds[cell + 1]]
        if len(members) == 0:
            continue
        cells = np.unique(probes[members])
        cand = np.concatenate([order[bounds[c]:bounds[c + 1]] for c in cells])
        for m0 in range(0, len(members), RERANK_BLOCK * 8):
            rows = members[m0:m0 + RERANK_BLOCK * 8]
            dist = sq[cand] - 2.0 * (x32[rows] @ x32[cand].T)  # (m, C), + |x_row|^2 left out
            take = min(kc, len(cand))
            top = np.argpartition(dist, take - 1, axis=1)[:, :take] if take < len(cand) else \
                np.broadcast_to(np.arange(take), (len(rows), take))
            out[rows, :take] = cand[top]
    return out


def knn_ranking(x: np.ndarray, k: int, knn: str = "auto") -> np.ndarray:
    """(N, H) float64 -> (N, min(k, N)) int64 indices of the nearest rows by L2, self included, nearest first.

    k + RERANK_MARGIN candidates come in float32 from faiss IndexFlatL2, or from the inverted file above
    EXACT_KNN_MAX rows for `knn="auto"` (exact search is O(N^2 H), about 400 s at 200k on 2 cores). They are
    re-ranked by float64 distances with ties going to the lower index, so float32 rounding cannot swap near-tied
    neighbours.
    """
    if knn not in KNN_METHODS:
        raise ClusteringError(f"knn={knn!r} is not one of {KNN_METHODS}")
    n = len(x)
    k = min(k, n)
    kc = min(n, k + RERANK_MARGIN)
    exact = knn == "exact" or (knn == "auto" and n <= EXACT_KNN_MAX)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    cand = _faiss_candidates(x32, kc, exact).astype(np.int64)
    short = (cand < 0).sum(1) > kc - k
    if short.any():  # an IVF probe found fewer than k rows: search those rows exactly
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x32)
        cand[short] = index.search(x32[short], kc)[1]
    cand = np.sort(cand, axis=1)  # index order first, so the stable sort breaks ties by index
    sq = np.einsum("nh,nh->n", x, x)
    out = np.empty((n, k), dtype=np.int64)
    for b0 in range(0, n, RERANK_BLOCK):
        c = cand[b0:b0 + RERANK_BLOCK]  # (b, kc)
        dot = (x[c] @ x[b0:b0 + RERANK_BLOCK, :, None])[..., 0]
        dist = np.where(c >= 0, sq[b0:b0 + RERANK_BLOCK, None] + sq[c] - 2.0 * dot, np.inf)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        out[b0:b0 + RERANK_BLOCK] = np.take_along_axis(c, order, axis=1)
    return out


def _neighbour_matrix(ranking: np.ndarray, mask: np.ndarray) -> sparse.csr_matrix:
    """(N, c) ranking columns and (N, c) mask -> (N, N) CSR with a 1 at (i, ranking[i, c]) where mask."""
    n = len(ranking)
    indptr = np.r_[0, np.cumsum(mask.sum(1))]
    return sparse.csr_matrix((np.ones(int(indptr[-1])), ranking[mask], indptr), shape=(n, n))


def reciprocal_sets(ranking: np.ndarray, cols: int) -> sparse.csr_matrix:
    """(N, k) ranking -> (N, N) CSR of R(i): j in the first `cols` entries of row i, with i in those of row j."""
    forward = _neighbour_matrix(ranking[:, :cols], np.ones((len(ranking), cols), dtype=bool))
    return forward.multiply(forward.T).tocsr()


def expansion_sets(ranking: np.ndarray, k1: int) -> sparse.csr_matrix:
    """(N, k) ranking -> (N, N) CSR whose row i marks the expanded k-reciprocal set R*(i, k1).

    R*(i) = R(i, k1) plus R(j, round(k1/2)) of every j in R(i, k1) with |R(j, k1/2) & R(i, k1)| >
    2/3 |R(j, k1/2)| (the official float comparison, kept so ties at the 2/3 bound go the same way). All set
    operations are sparse products, O(N k^2).
    """
    n, k = ranking.shape
    full = reciprocal_sets(ranking, k)
    half = reciprocal_sets(ranking, min(int(np.around(k1 / 2)) + 1, k))
    half_size = np.diff(half.indptr)
    overlap = (full @ half.T).multiply(full).tocsr()  # (i, j in R(i)) -> |R(i) & R(j, k1/2)|
    accept = overlap.data > 2 / 3 * half_size[overlap.indices]
    chosen = sparse.csr_matrix((accept.astype(np.float64), overlap.indices, overlap.indptr), shape=(n, n))
    chosen.eliminate_zeros()
    marks = (full + chosen @ half).tocsr()
    marks.sort_indices()
    marks.data[:] = 1.0
    return marks


def _row_ids(m: sparse.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def softmax_weights(x: np.ndarray, marks: sparse.csr_matrix) -> sparse.csr_matrix:
    """V: row i = softmax over R*(i) of -(2 - 2 x_i.x_j). A weight that underflows to 0 leaves the support."""
    n = marks.shape[0]
    rows, cols = _row_ids(marks), marks.indices
    counts = np.diff(marks.indptr)
    logits = np.empty(len(cols), dtype=np.float64)
    for b0 in range(0, n, RERANK_BLOCK):
        c = counts[b0:b0 + RERANK_BLOCK]
        if not c.any():
            continue
        p0, p1 = marks.indptr[b0], marks.indptr[min(n, b0 + RERANK_BLOCK)]
        slots = np.arange(c.max()) < c[:, None]  # (b, L) padded row layout
        padded = np.zeros(slots.shape, dtype=np.int64)
        padded[slots] = cols[p0:p1]
        dot = (x[padded] @ x[b0:b0 + RERANK_BLOCK, :, None])[..., 0]  # (b, L)
        logits[p0:p1] = 2.0 * dot[slots] - 2.0
    nonempty = np.diff(marks.indptr) > 0
    row_max = np.zeros(n)
    row_max[nonempty] = np.maximum.reduceat(logits, marks.indptr[:-1][nonempty])
    w = np.exp(logits - row_max[rows])
    w /= np.bincount(rows, weights=w, minlength=n)[rows]
    v = sparse.csr_matrix((w, cols.copy(), marks.indptr.copy()), shape=marks.shape)
    v.eliminate_zeros()  # the dense code finds supports with V != 0
    return v


def query_expansion(v: sparse.csr_matrix, ranking: np.ndarray, k2: int) -> sparse.csr_matrix:
    """V_qe: row i = mean of the V rows of i's k2 nearest neighbours (self included)."""
    if k2 == 1:  # the official code skips the expansion for k2 == 1, whatever the ranking says
        return v
    nn = ranking[:, :k2]  # (N, k2')
    n, kq = nn.shape
    q = sparse.csr_matrix((np.full(n * kq, 1.0 / kq), nn.ravel(), np.arange(0, n * kq + 1, kq)), shape=(n, n))
    out = (q @ v).tocsr()
    out.sum_duplicates()
    out.eliminate_zeros()
    return out


def jaccard_distance(features: np.ndarray, *, k1: int = 20, k2: int = 6, normalize: bool = True,
                     knn: str = "auto", max_distance: float | None = None) -> sparse.csr_matrix:
    """Sparse k-reciprocal Jaccard distance 1 - S/(2 - S), S = sum_k min(V_qe[i,k], V_qe[j,k]), clipped at 0.

    Args:
        features: (N, H) window features.
        k1, k2: re-ranking neighbourhood sizes (clipped to N).
        normalize: L2-normalise rows first (our fix, spec §4.6); False reproduces the official code on raw
            features, where 2 - 2 x_i.x_j is not a squared distance and the weights become very peaked.
        knn: "exact" (faiss IndexFlatL2), "ivf" (IndexIVFFlat) or "auto" (exact up to EXACT_KNN_MAX rows).
        max_distance: keep only entries <= this (None keeps every overlapping pair).
    Returns:
        (N, N) CSR float64, symmetric, sorted indices. Stored entries (explicit zeros included) are the pairs
        whose V_qe supports overlap; every missing pair has distance 1.
    Raises:
        ClusteringError: non-finite or non-2-D features, or k1/k2 < 1.
    """
    _check_params(k1, k2)
    x = prepare_features(_check_features(features), normalize)
    t0 = time.perf_counter()
    ranking = knn_ranking(x, min(k1, len(x)), knn)
    t1 = time.perf_counter()
    vq = query_expansion(softmax_weights(x, expansion_sets(ranking, k1)), ranking, k2)
    t2 = time.perf_counter()
    dist = _pairwise_min_sum(vq, max_distance)
    logger.debug("jaccard of %d rows: knn %.2f s, V and V_qe %.2f s (%d entries), pairs %.2f s (%d stored)",
                 len(x), t1 - t0, t2 - t1, vq.nnz, time.perf_counter() - t2, dist.nnz)
    return dist


def _slot_rows(n: int) -> int:
    return max(1, min(SLOT_TABLE // n, SLOT_ROWS))


def _block_bounds(terms: np.ndarray) -> np.ndarray:
    """Row boundaries of the Jaccard blocks: at most TRIPLES_PER_BLOCK terms and `_slot_rows` rows each."""
    n = len(terms)
    total = np.cumsum(terms)
    by_terms = np.searchsorted(total, np.arange(TRIPLES_PER_BLOCK, total[-1], TRIPLES_PER_BLOCK), side="right")
    by_rows = np.arange(0, n, _slot_rows(n))
    return np.unique(np.concatenate([by_terms, by_rows, [n]]))


def _pairwise_min_sum(vq: sparse.csr_matrix, max_distance: float | None) -> sparse.csr_matrix:
    """Jaccard distances of all pairs sharing a support column of V_qe, block of rows by block of rows.

    For each entry (i, k) of V_qe, the terms min(V_qe[i,k], V_qe[j,k]) for the rows j >= i of column k are
    listed and summed per pair (i, j); the lower triangle is the mirror image. The per-pair sum uses a slot table
    of (rows x N) ints instead of sorting the terms (scipy sum_duplicates), which was 2x slower.
    """
    n = vq.shape[0]
    # Renumber so that rows sharing columns get close numbers: the slot-table accesses then stay in cache.
    perm = reverse_cuthill_mckee(vq.astype(bool).tocsr(), symmetric_mode=False).astype(np.int64)
    vq = vq[perm][:, perm].tocsr()
    vq.sort_indices()
    # CSC copy whose data are the CSR entry ids, to find where each entry (i, k) sits in its column
    where = sparse.csr_matrix((np.arange(vq.nnz, dtype=np.int64), vq.indices, vq.indptr), shape=vq.shape).tocsc()
    where.sort_indices()
    col_pos = np.empty(vq.nnz, dtype=np.int64)
    col_pos[where.data] = np.arange(vq.nnz)
    col_values = vq.data[where.data]  # (nnz,) V_qe values in CSC order
    lengths_all = where.indptr[vq.indices + 1] - col_pos  # (nnz,) terms of entry (i, k): rows j >= i of k
    terms = np.zeros(n, dtype=np.int64)
    nonempty = np.diff(vq.indptr) > 0
    terms[nonempty] = np.add.reduceat(lengths_all, vq.indptr[:-1][nonempty])
    bounds = _block_bounds(terms)
    slot = np.empty(_slot_rows(n) * n, dtype=np.int64)
    rows, cols, vals = [], [], []
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        p0, p1 = vq.indptr[b0], vq.indptr[b1]
        lengths = lengths_all[p0:p1]
        offsets = np.cumsum(lengths) - lengths
        starts = np.repeat(col_pos[p0:p1] - offsets, lengths) + np.arange(offsets[-1] + lengths[-1] if p1 > p0
                                                                           else 0)
        base = np.repeat(np.repeat(np.arange(b1 - b0) * n, np.diff(vq.indptr[b0:b1 + 1])), lengths)
        keys = base + where.indices[starts]  # (T,) pair id inside the block
        order = np.arange(len(keys))
        slot[keys] = order  # the last term of each pair wins its slot
        pairs = keys[slot[keys] == order]  # (U,) distinct pairs
        slot[pairs] = np.arange(len(pairs))
        s = np.bincount(slot[keys], weights=np.minimum(np.repeat(vq.data[p0:p1], lengths), col_values[starts]),
                        minlength=len(pairs))
        dist = np.maximum(1.0 - s / (2.0 - s), 0.0)
        keep = slice(None) if max_distance is None else dist <= max_distance
        rows.append(pairs[keep] // n + b0)
        cols.append(pairs[keep] % n)
        vals.append(dist[keep])
    r, c, d = perm[np.concatenate(rows)], perm[np.concatenate(cols)], np.concatenate(vals)
    off = r != c
    out = sparse.coo_matrix((np.r_[d, d[off]], (np.r_[r, c[off]], np.r_[c, r[off]])), shape=(n, n)).tocsr()
    out.sort_indices()  # tocsr keeps explicit zeros; each pair occurs once, so nothing is summed
    return out


def cluster_level(features: np.ndarray, *, eps: float, min_samples: int, k1: int = 20, k2: int = 6,
                  normalize: bool = True, knn: str = "auto") -> np.ndarray:
    """DBSCAN pseudo-labels of one level on the sparse Jaccard distance.

    Args:
        features: (N, H) window features of one level.
        eps: DBSCAN radius on the Jaccard distance, in (0, 1).
        min_samples: DBSCAN core-point count, the point itself included.
        k1, k2, normalize, knn: see `jaccard_distance`.
    Returns:
        (N,) int64 labels 0..K-1, -1 for outliers. Same input, same labels.
    Raises:
        ClusteringError: bad features or parameters.
    """
    _check_params(k1, k2, eps, min_samples)
    start = time.perf_counter()
    dist = jaccard_distance(features, k1=k1, k2=k2, normalize=normalize, knn=knn, max_distance=eps)
    # Stored entries are exactly the pairs <= eps, explicit zeros included (sklearn keeps stored zeros as
    # neighbours and fills a missing diagonal itself); missing pairs are "not neighbours".
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(dist).astype(np.int64)
    logger.info("clustered %d points: %d clusters, %d outliers, %d stored pairs, %.2f s", len(labels),
                labels.max() + 1, int((labels < 0).sum()), dist.nnz, time.perf_counter() - start)
    return labels


def prototypes(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, H) features and (N,) labels 0..K-1 / -1 -> (K, H) float32 cluster means, outliers excluded."""
    x = _check_features(features)
    labels = np.asarray(labels)
    if labels.shape != (len(x),):
        raise ClusteringError(f"labels have shape {labels.shape}, features {x.shape}; pass one label per row")
    num = int(labels.max()) + 1 if len(labels) else 0
    inside = labels >= 0
    if num and np.bincount(labels[inside], minlength=num).min() == 0:
        raise ClusteringError(f"labels are not contiguous 0..{num - 1}; relabel with np.unique(..., "
                              "return_inverse=True) first")
    onehot = sparse.csr_matrix((np.ones(int(inside.sum())), (labels[inside], np.nonzero(inside)[0])),
                               shape=(num, len(x)))
    sums = onehot @ x.astype(np.float64)  # (K, H)
    return (sums / np.asarray(onehot.sum(1))).astype(np.float32)


def cluster_levels(features: dict[str, np.ndarray], *, eps: float, min_samples: int, k1: int = 20, k2: int = 6,
                   normalize: bool = True, knn: str = "auto", groups: np.ndarray | None = None) -> ClusterResult:
    """Cluster every level separately and keep the windows that are non-outliers at all levels (spec §1.4).

    Args:
        features: level name -> (N, H_l) features, the same N windows in the same order at every level.
        eps, min_samples, k1, k2, normalize, knn: see `cluster_level`, shared by all levels.
        groups: (N,) id of the sequence (track) each window was cut from, or None. With groups, each sequence's
            mean feature is clustered and its windows share its pseudo-label, so windows of one walk at
            different gait phases are one pseudo-identity (why: `reid.train`). Prototypes stay window means.
    Returns:
        A `ClusterResult`; with no cluster at some level, `keep` is all False and that level has K = 0.
    Raises:
        ClusteringError: no level, levels with different N, bad features, groups or parameters.
    """
    if not features:
        raise ClusteringError("no level to cluster; pass {level name: (N, H) features}")
    sizes = {name: np.shape(f)[0] if np.ndim(f) else 0 for name, f in features.items()}
    if len(set(sizes.values())) != 1:
        raise ClusteringError(f"levels hold different numbers of windows {sizes}; extract every level from the "
                              "same windows")
    if groups is None:
        labels = {name: cluster_level(f, eps=eps, min_samples=min_samples, k1=k1, k2=k2, normalize=normalize,
                                      knn=knn) for name, f in features.items()}
    else:
        groups = np.asarray(groups)
        if groups.shape != (next(iter(sizes.values())),):
            raise ClusteringError(f"groups have shape {groups.shape}, expected one id per window ({sizes})")
        _, inverse = np.unique(groups, return_inverse=True)  # ids 0..S-1, every one used
        # A few sequences (a short site recording) would all fall in one another's k1 neighbourhood, where
        # every pair looks reciprocal and everything merges into one cluster: a neighbourhood is at most half
        # of the sequences.
        k1 = min(k1, max(1, (inverse.max() + 1) // 2))
        k2 = min(k2, k1)
        # A sequence's mean feature is the "prototype" of its windows under the sequence ids as labels.
        labels = {name: cluster_level(prototypes(f, inverse), eps=eps, min_samples=min_samples, k1=k1, k2=k2,
                                      normalize=normalize, knn=knn)[inverse] for name, f in features.items()}
    protos = {name: prototypes(features[name], lab) for name, lab in labels.items()}
    keep = np.logical_and.reduce([lab >= 0 for lab in labels.values()])
    counts = {name: len(p) for name, p in protos.items()}
    logger.info("kept %d of %d windows; clusters per level %s", int(keep.sum()), len(keep), counts)
    return ClusterResult(labels=labels, prototypes=protos, keep=keep, counts=counts)
