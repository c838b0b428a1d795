"""Clustering benchmark: sparse k-reciprocal Jaccard + DBSCAN (reid.cluster) against the dense N x N reference.

    python -m bench.cluster            # ours vs dense at 2k, 5k, 10k; ours alone at 50k, 100k, 200k
    python -m bench.cluster --quick    # ours vs dense at 1k, 2k; ours alone at 20k, 50k

Features are synthetic 256-d window features: clip(N/200, 200, 1000) Gaussian identities, each with 4
"sequence" sub-centres (spread 0.5) and window noise 0.3, so the kNN graph has the local structure of real
features. Every measurement runs in a fresh spawned process with faiss on 2 threads. Time is wall-clock of the
whole call (kNN + Jaccard + DBSCAN). Memory is ru_maxrss of that process: "peak" is the absolute peak RSS, "added"
is the peak minus the RSS just before the call (imports and features excluded). Above
reid.cluster.EXACT_KNN_MAX rows (5k) ours uses the inverted-file kNN; its recall@20 against exact faiss search is
measured on 1000 random windows. The dense reference ranks with a full float64 distance matrix; the line below
each comparison gives the speed-up without that kNN step. Figures depend on the machine's load (printed): run it
on a quiet machine.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import time

import numpy as np

DIM = 256
SUBS = 4


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    """(n, DIM) float32 clustered window features."""
    rng = np.random.default_rng(seed)
    num = int(np.clip(n // 200, 200, 1000))
    centres = rng.standard_normal((num, DIM), dtype=np.float32)
    subs = 0.5 * rng.standard_normal((num, SUBS, DIM), dtype=np.float32)
    who, seq = rng.integers(0, num, n), rng.integers(0, SUBS, n)
    x = centres[who] + subs[who, seq]
    x += 0.3 * rng.standard_normal((n, DIM), dtype=np.float32)
    return x


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Stages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("jaccard"):
            self.messages.append(record.getMessage())


def _measure(kind: str, n: int, eps: float, min_samples: int) -> dict:
    """Runs in a fresh process: one clustering of n synthetic windows, timed, with its peak RSS."""
    import faiss

    from reid import cluster
    from tests.reid import dense_jaccard as dense
    faiss.omp_set_num_threads(2)
    x = synthetic(n)
    stages = _Stages()
    logging.getLogger("reid.cluster").addHandler(stages)
    logging.getLogger("reid.cluster").setLevel(logging.DEBUG)
    before = _rss_mb()
    start = time.perf_counter()
    extra: dict = {}
    if kind == "ours":
        labels = cluster.cluster_level(x, eps=eps, min_samples=min_samples)
    else:
        from sklearn.cluster import DBSCAN
        x64 = dense.dense_features(x, normalize=True)
        ranking = dense.dense_ranking(x64, 20)
        extra["knn_s"] = time.perf_counter() - start
        jac = dense.dense_jaccard_from_ranking(x64, ranking, 20, 6)
        labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(jac)
    seconds = time.perf_counter() - start
    result = dict(seconds=seconds, peak_mb=_peak_mb(), added_mb=_peak_mb() - before, labels=labels,
                  stages=stages.messages, **extra)
    if kind == "ours" and n > cluster.EXACT_KNN_MAX:
        xn = cluster.prepare_features(x, True)
        approx = cluster.knn_ranking(xn, 20, "ivf")
        queries = np.random.default_rng(1).choice(n, 1000, replace=False)
        index = faiss.IndexFlatL2(DIM)
        index.add(xn.astype(np.float32))
        exact = index.search(xn[queries].astype(np.float32), 20)[1]
        result["recall"] = float(np.mean([len(np.intersect1d(approx[q], e)) / 20 for q, e in zip(queries, exact)]))
    return result


def _run(kind: str, n: int, eps: float, min_samples: int) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (kind, n, eps, min_samples))


def _summary(r: dict) -> str:
    labels = r["labels"]
    return f"{labels.max() + 1} clusters, {int((labels < 0).sum())} outliers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--eps", type=float, default=0.6)
    parser.add_argument("--min-samples", type=int, default=4)
    args = parser.parse_args()
    compare, alone = ([1000, 2000], [20_000, 50_000]) if args.quick else ([2000, 5000, 10_000],
                                                                        [50_000, 100_000, 200_000])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; eps={args.eps} "
          f"min_samples={args.min_samples} k1=20 k2=6 normalize=True, {DIM}-d features")
    print(f"{'N':>7} | {'ours s':>7} | {'dense s':>8} {'(kNN s)':>8} | {'speed-up':>8} | {'ours MB':>14} | "
          f"{'dense MB':>14} | {'mem':>5} | labels")
    for n in compare:
        ours, ref = _run("ours", n, args.eps, args.min_samples), _run("dense", n, args.eps, args.min_samples)
        same = "identical" if np.array_equal(ours["labels"], ref["labels"]) else "DIFFER"
        print(f"{n:>7} | {ours['seconds']:7.2f} | {ref['seconds']:8.2f} {ref['knn_s']:8.2f} | "
              f"{ref['seconds'] / ours['seconds']:7.1f}x | {ours['added_mb']:6.0f} (+{ours['peak_mb']:5.0f}) | "
              f"{ref['added_mb']:6.0f} ({ref['peak_mb']:5.0f}) | {ref['added_mb'] / max(ours['added_mb'], 1):4.0f}x "
              f"| {same}, {_summary(ours)}, kNN recall@20 {ours.get('recall', 1.0):.4f}", flush=True)
        print(f"        speed-up without the dense kNN: "
              f"{(ref['seconds'] - ref['knn_s']) / ours['seconds']:.1f}x; ours: {'; '.join(ours['stages'])}")
    print("memory columns: added by the call (peak RSS of the process)")
    for n in alone:
        ours = _run("ours", n, args.eps, args.min_samples)
        print(f"{n:>7} | {ours['seconds']:7.2f} s | added {ours['added_mb']:6.0f} MB, peak {ours['peak_mb']:6.0f} MB | "
              f"kNN recall@20 {ours.get('recall', 1.0):.4f} | {_summary(ours)}", flush=True)
        print(f"        {'; '.join(ours['stages'])}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
