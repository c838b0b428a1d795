"""A faiss index over gallery vectors keyed by embedding id: exact when small, IVF-PQ plus exact re-ranking when large.

Exact search (`IndexIDMap2` over `IndexFlatL2`) is used up to `approximate_above` vectors. Past it the vectors are
kept as float32 rows (the array given to `rebuild` itself, no copy) and an `IndexIVFPQFastScan` (4-bit PQ codes,
one sub-quantizer per 4 dimensions, SIMD table look-ups) over the row numbers gives a shortlist that is
re-ranked by exact distances to the kept rows. So distances, `reconstruct` and `export` stay exact, and only the
shortlist is approximate. The shortlist length, then `nprobe`, are tuned at build time: twice the smallest power
of two whose recall@k against exact search, on a sample of the gallery's own vectors used as queries (self
excluded), reaches `target_recall`.

Chosen by measurement (`python -m bench.gallery`, 768-d synthetic windows, one thread a query, CPU time on a
2-core machine): at 1M, IVF-Flat scanned full vectors for 29 ms a query; IVF-PQ with re-ranking takes 2.2 ms
(exact search 102 ms) at recall@5 0.999 and builds in 38 s CPU (4 s at 100k). faiss HNSW (M 32,
efConstruction 40) reaches recall@5 0.999 with efSearch 64 at 100k (0.3 ms; the default efSearch 16 gives
0.93), as fast as IVF-PQ, but it cannot remove ids and took 43 s CPU to build 100k vectors, and the app
rebuilds the index on open. The PQ codes take 96 bytes a 768-d vector; the kept rows (3 GB a million) are
most of the memory. Distances are squared L2 (faiss convention).
"""
from __future__ import annotations

import logging
import math

import faiss
import numpy as np

logger = logging.getLogger(__name__)


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"vectors of shape {arr.shape} do not fit an index of dimension {dim}")
    return arr


def _pq_size(dim: int) -> int:
    """Sub-quantizers for the PQ codes: the most that divide `dim` with at least 4 dimensions each."""
    return max([m for m in range(1, dim // 4 + 1) if dim % m == 0] or [1])


class _Rows:
    """Append-only float32 rows numbered 0.. (slots), in blocks so that adding never copies what is stored.

    The first block is the array given at construction (kept, not copied); later blocks grow geometrically.
    """

    def __init__(self, first: np.ndarray) -> None:
        self.dim = first.shape[1]
        self._blocks = [first]
        self._starts = [0]
        self.count = len(first)

    def append(self, vecs: np.ndarray) -> np.ndarray:
        """Store rows; returns their slots."""
        slots = np.arange(self.count, self.count + len(vecs), dtype=np.int64)
        last, start = self._blocks[-1], self._starts[-1]
        room = len(last) - (self.count - start) if len(self._blocks) > 1 else 0
        if room < len(vecs):
            block = np.empty((max(len(vecs), 1024, self.count // 8), self.dim), np.float32)
            self._blocks.append(block)
            self._starts.append(self.count)
            last, start = block, self.count
        last[self.count - start:self.count - start + len(vecs)] = vecs
        self.count += len(vecs)
        return slots

    def take(self, slots: np.ndarray) -> np.ndarray:
        if len(self._blocks) == 1:
            return self._blocks[0][slots]
        out = np.empty((len(slots), self.dim), np.float32)
        which = np.searchsorted(self._starts, slots, side="right") - 1
        for b in np.unique(which).tolist():
            rows = which == b
            out[rows] = self._blocks[b][slots[rows] - self._starts[b]]
        return out


class VectorIndex:
    """Gallery vectors by id, searchable by squared L2 distance.

    Args:
        dim: vector size D.
        approximate_above: size past which the IVF-PQ shortlist replaces exact search (hysteresis: back to
            exact below half of it).
        target_recall: recall@`tune_k` the shortlist and `nprobe` are tuned to reach against exact search.
        tune_queries: number of gallery vectors used as queries when tuning.
        min_shortlist: the least number of rows re-ranked exactly for a top-k search (at least k); tuning
            raises it (`shortlist`) until the PQ codes alone reach the target recall.
        seed: seed of the k-means training sample and the tuning sample.
    """

    def __init__(self, dim: int, *, approximate_above: int = 50_000, target_recall: float = 0.99,
                 tune_k: int = 5, tune_queries: int = 200, min_shortlist: int = 32, seed: int = 0) -> None:
        self.dim = int(dim)
        self.approximate_above = int(approximate_above)
        self.target_recall = float(target_recall)
        self.tune_k = int(tune_k)
        self.tune_queries = int(tune_queries)
        self.min_shortlist = self.shortlist = int(min_shortlist)
        self.seed = int(seed)
        self.measured_recall: float | None = None
        self._trained_size = 0
        self._index: faiss.Index = self._exact()
        self._rows: _Rows | None = None  # the kept vectors (approximate mode only)
        self._slot_id = np.empty(0, np.int64)  # slot -> id, -1 once removed (approximate mode only)
        self._slots: dict[int, int] = {}  # id -> slot (-1 in exact mode)
        self._params: faiss.SearchParametersIVF | None = None  # skips removed slots (approximate mode only)
        self._live_bits = np.empty(0, np.uint8)

    def _exact(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatL2(self.dim))

    @property
    def kind(self) -> str:
        return "ivf" if self._rows is not None else "exact"

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if self._rows is not None else None

    def __len__(self) -> int:
        return len(self._slots)

    def ids(self) -> set[int]:
        """The embedding ids in the index (a copy)."""
        return set(self._slots)

    def __contains__(self, embedding_id: int) -> bool:
        return int(embedding_id) in self._slots

    def rebuild(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Replace the whole content; chooses exact or IVF-PQ by size (training and tuning it if needed).

        Above `approximate_above` the vectors array is kept as the index's own copy: do not modify it afterwards.
        """
        ids_arr = _as_ids(ids)
        vecs = _as_vectors(vectors, self.dim) if len(ids_arr) else np.empty((0, self.dim), np.float32)
        if len(ids_arr) != len(vecs):
            raise ValueError(f"{len(ids_arr)} ids for {len(vecs)} vectors")
        if len(np.unique(ids_arr)) != len(ids_arr):
            raise ValueError("duplicate embedding ids")
        if len(ids_arr) > self.approximate_above:
            self._build_ivf(ids_arr, vecs)
            return
        self._index, self._rows, self._slot_id = self._exact(), None, np.empty(0, np.int64)
        self.measured_recall = None
        if len(ids_arr):
            self._index.add_with_ids(vecs, ids_arr)
        self._slots = dict.fromkeys(ids_arr.tolist(), -1)

    def _build_ivf(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        n = len(vecs)
        nlist = int(min(2048, max(16, 2 ** round(math.log2(math.sqrt(n))))))
        rng = np.random.default_rng(self.seed)
        # k-means on 32 points per list, 10 iterations: at 1M the quantizer's training and the assignment of
        # every vector are most of the build time; list sizes matter little when lists are scanned as PQ codes.
        train = vecs[rng.choice(n, size=32 * nlist, replace=False)] if n > 32 * nlist else vecs
        kmeans = faiss.Kmeans(self.dim, nlist, niter=10, seed=self.seed, min_points_per_centroid=32)
        kmeans.train(train)  # min_points_per_centroid: 32 a list is what is sampled (faiss warns below 39)
        self._quantizer = faiss.IndexFlatL2(self.dim)  # referenced here: the IVF index does not own it
        self._quantizer.add(kmeans.centroids)
        index = faiss.IndexIVFPQFastScan(self._quantizer, self.dim, nlist, _pq_size(self.dim), 4)
        index.by_residual = False  # one look-up table a query, not one a list: 2.3 vs 3.2 ms at 1M, same recall
        # The PQ is trained on one thread: its many tiny k-means (16 centroids each) spent 97 % of the CPU in
        # OpenMP start-up and spin-waits on a busy 2-core machine (46 s vs 1.5 s CPU for 192 sub-quantizers).
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            index.train(train)  # the quantizer is trained: only the PQ codebooks are learnt here
        finally:
            faiss.omp_set_num_threads(previous)
        slots = np.arange(n, dtype=np.int64)
        index.add_with_ids(vecs, slots)
        self._index, self._rows, self._slot_id, self._params = index, _Rows(vecs), ids.copy(), None
        self._slots = dict(zip(ids.tolist(), slots.tolist()))
        self._trained_size = n
        self.measured_recall = self._tune(ids, vecs, rng)
        logger.info("gallery index: IVF-PQ nlist=%d nprobe=%d shortlist=%d over %d vectors (recall@%d %.3f vs "
                    "exact)", nlist, index.nprobe, self.shortlist, n, self.tune_k, self.measured_recall)

    def _tune(self, ids: np.ndarray, vecs: np.ndarray, rng: np.random.Generator) -> float:
        """Set the shortlist (PQ distances are coarse) then nprobe (lists visited) to reach the target recall."""
        k = self.tune_k + 1  # each query is itself in the gallery; it is excluded from both lists
        sample = np.sort(rng.choice(len(vecs), size=min(len(vecs), self.tune_queries), replace=False))
        _, exact_pos = faiss.knn(vecs[sample], vecs, k)  # exact, without copying the vectors into an index

        def recall() -> float:
            found = self.search(vecs[sample], k)[1]
            return recall_at_k(ids[exact_pos], found, self.tune_k, exclude=ids[sample])

        index, limit = self._index, min(len(vecs), 64 * self.min_shortlist)
        index.nprobe, self.shortlist = index.nlist, self.min_shortlist  # every list: only the shortlist limits
        while recall() < self.target_recall and self.shortlist < limit:
            self.shortlist = min(limit, 2 * self.shortlist)
        index.nprobe = 1
        while recall() < self.target_recall and index.nprobe < index.nlist:
            index.nprobe = min(index.nlist, 2 * index.nprobe)
        # The estimate from a few hundred queries is good to about +-0.5%: twice both keeps fresh queries
        # above the target (with IVF-Flat at 1M it said 0.992 for nprobe 8, fresh queries 0.983).
        index.nprobe, self.shortlist = min(index.nlist, 2 * index.nprobe), min(limit, 2 * self.shortlist)
        return recall()

    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add vectors under new ids; switches to IVF-PQ when the size passes `approximate_above`."""
        ids_arr = _as_ids(ids)
        if not len(ids_arr):
            return
        vecs = _as_vectors(vectors, self.dim)
        clash = [i for i in ids_arr.tolist() if i in self._slots]
        if clash:
            raise ValueError(f"embedding ids already indexed: {sorted(clash)[:5]}")
        size = len(self._slots) + len(ids_arr)
        if (self._rows is None and size > self.approximate_above) or (self._rows is not None and
                                                                     size > 4 * self._trained_size):
            old_ids, old_vecs = self.export()
            self.rebuild(np.concatenate([old_ids, ids_arr]), np.concatenate([old_vecs, vecs]))
            return
        if self._rows is None:
            self._index.add_with_ids(vecs, ids_arr)
            self._slots.update(dict.fromkeys(ids_arr.tolist(), -1))
            return
        slots = self._rows.append(vecs)
        self._index.add_with_ids(vecs, slots)
        self._slot_id = np.concatenate([self._slot_id, ids_arr])
        self._slots.update(zip(ids_arr.tolist(), slots.tolist()))
        self._params = None

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Remove ids (unknown ids are ignored); returns how many were removed."""
        ids_arr = _as_ids([i for i in _as_ids(ids).tolist() if i in self._slots])
        if not len(ids_arr):
            return 0
        if self._rows is None:
            removed = int(self._index.remove_ids(ids_arr))
        else:
            # Marked removed, not removed from the PQ lists: faiss 1.15 `remove_ids` on fast-scan lists left
            # the next vector added to the same list with a wrong code. Searches skip marked slots; the rows
            # stay until the next rebuild, and re-adding an id takes a new slot.
            self._slot_id[[self._slots[i] for i in ids_arr.tolist()]] = -1
            self._params = None
            removed = len(ids_arr)
        for i in ids_arr.tolist():
            del self._slots[i]
        if self._rows is not None and (len(self._slots) < self.approximate_above // 2
                                       or self._rows.count > 2 * len(self._slots)):
            self.rebuild(*self.export())  # back to exact, or drop the removed rows when they are half the store
        return removed

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids (N,), vectors (N, D)) in ascending id order."""
        ids = np.array(sorted(self._slots), dtype=np.int64)
        return ids, self.reconstruct(ids)

    def reconstruct(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The stored vectors (exact) of indexed ids; KeyError for an id not in the index."""
        ids_arr = _as_ids(ids)
        if self._rows is not None:
            return self._rows.take(_as_ids([self._slots[i] for i in ids_arr.tolist()]))
        out = np.empty((len(ids_arr), self.dim), np.float32)
        for row, i in enumerate(ids_arr.tolist()):
            out[row] = self._index.reconstruct(i)
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by squared L2: (distances (Q, k), ids (Q, k)), id -1 and distance inf where fewer exist."""
        q = _as_vectors(queries, self.dim)
        if not self._slots:
            return np.full((len(q), k), np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        # A few queries run on this thread alone: OpenMP workers spin-waiting on a busy machine made a single
        # search over 1,000 vectors ~10x slower (4.8 ms vs 0.5 ms measured). The setting is per calling thread.
        previous = faiss.omp_get_max_threads()
        if len(q) < 16:
            faiss.omp_set_num_threads(1)
        try:
            if self._rows is None:
                dist, ids = self._index.search(q, k)
            else:
                dist, ids = self._reranked(q, k)
        finally:
            faiss.omp_set_num_threads(previous)
        dist[ids < 0] = np.inf
        return dist, ids

    def _search_params(self) -> faiss.SearchParametersIVF | None:
        """None while no slot is marked removed; else a selector of the live slots (one bit a slot)."""
        if self._params is None and len(self._slots) < len(self._slot_id):
            self._live_bits = np.packbits(self._slot_id >= 0, bitorder="little")  # referenced by the selector
            selector = faiss.IDSelectorBitmap(len(self._live_bits), faiss.swig_ptr(self._live_bits))  # n: bytes
            self._params = faiss.SearchParametersIVF(sel=selector)
        if self._params is not None:
            self._params.nprobe = self._index.nprobe
        return self._params

    def _reranked(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The PQ shortlist of each query, re-ranked by exact distances to the stored rows."""
        assert self._rows is not None
        # A long k (Gallery.match asks for a few hundred, to see k people) is re-ranked as found: the tuned
        # shortlist covers the top `tune_k`; gathering 2k rows from the store cost ~1 ms a window at 1M.
        _, short = self._index.search(q, max(self.shortlist, k), params=self._search_params())
        dist = np.full((len(q), k), np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        for row, (query, slots) in enumerate(zip(q, short)):
            slots = slots[slots >= 0]
            exact = ((self._rows.take(slots) - query) ** 2).sum(axis=1)
            best = np.argsort(exact, kind="stable")[:k]
            dist[row, :len(best)], ids[row, :len(best)] = exact[best], self._slot_id[slots[best]]
        return dist, ids


def recall_at_k(exact_ids: np.ndarray, approx_ids: np.ndarray, k: int,
                exclude: np.ndarray | None = None) -> float:
    """Mean fraction of the exact top-k ids found in the approximate top-k (rows (Q, >=k) of ids).

    `exclude` (Q,) drops one id per query from both lists first (the query itself when it is in the gallery).
    """
    hits = 0
    for row, (truth_row, approx_row) in enumerate(zip(exact_ids, approx_ids)):
        skip = None if exclude is None else int(exclude[row])
        truth = [i for i in truth_row.tolist() if i != skip and i >= 0][:k]
        found = set([i for i in approx_row.tolist() if i != skip and i >= 0][:k])
        hits += len(found.intersection(truth))
    return hits / max(1, k * len(exact_ids))
