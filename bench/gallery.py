"""Gallery benchmark: index build time, top-5 match latency and recall@5 vs exact search at 10k / 100k / 1M
embeddings, Gallery.match and rebuild-from-database costs, the full window record (match, vote, store, as the
pipeline's matcher does it) at 10k and 1M stored embeddings, and sustained sighting inserts with WAL while
another process reads.

    python -m bench.gallery            # 10k, 100k, 1M (1M x 768 float32 = 3 GB; run it once)
    python -m bench.gallery --quick    # 10k and 60k, short insert test
    python -m bench.gallery --record-only   # just the window record rate at 10k and 1M

Data are synthetic MSMR-like vectors: identities with 50 windows each, window noise 0.35 of the identity spread,
so nearest neighbours are mostly the same person's windows, as in a real gallery; one extra run uses window
noise as large as the spread of people (near-random vectors, the hard case for IVF). Queries are fresh windows of
enrolled people. Every ratio is against a baseline measured in the same run (exact faiss search, or the insert
rate without a reader). Figures depend on the machine's load: run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from app.compose import make_matcher, open_gallery
from app.config import load_config, with_changes
from capture.buffer import Window
from storage.db import open_database
from storage.gallery import Gallery
from storage.identities import insert_vectors
from storage.index import VectorIndex, recall_at_k
from storage.models import Identity, Sighting
from storage.sessions import create_session

DIM = 768
PER_IDENTITY = 50
SPREAD = 0.35


def synth(n: int, seed: int = 0, spread: float = SPREAD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres (P, D), vectors (n, D) float32, labels (n,)), built in chunks to stay at one float32 copy."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // PER_IDENTITY), DIM), dtype=np.float32)
    labels = np.arange(n) // PER_IDENTITY % len(centres)
    out = np.empty((n, DIM), np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        out[a:b] = centres[labels[a:b]] + spread * rng.standard_normal((b - a, DIM), dtype=np.float32)
    return centres, out, labels


def queries_for(centres: np.ndarray, count: int, seed: int = 1, spread: float = SPREAD) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(centres), count)
    return (centres[pick] + spread * rng.standard_normal((count, DIM), dtype=np.float32)).astype(np.float32)


def one_by_one(search, queries: np.ndarray) -> tuple[float, float, float, np.ndarray]:  # type: ignore[no-untyped-def]
    """Single-query calls: median and p95 wall ms, median CPU ms of this thread, and the ids found (Q, 5).

    The CPU time is what a query costs when the machine is busy with other work (wall time then includes
    waiting for a core); both are printed.
    """
    wall, cpu, found = [], [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        found.append(search(q[None, :]))
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return float(np.median(wall)), float(np.percentile(wall, 95)), float(np.median(cpu)), np.concatenate(found)


def exact_top5(query: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """Brute-force top-5 positions on one thread, like the index's own single-query searches."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return faiss.knn(query, vecs, 5)[1]
    finally:
        faiss.omp_set_num_threads(previous)


def bench_index(n: int, n_queries: int, spread: float = SPREAD) -> None:
    centres, vecs, _ = synth(n, spread=spread)
    queries = queries_for(centres, n_queries, spread=spread)
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact_med, _, exact_cpu, truth = one_by_one(lambda q: ids[exact_top5(q, vecs)], queries)
    index = VectorIndex(DIM)  # the product defaults: exact up to 50k, tuned IVF above
    start = time.perf_counter()
    index.rebuild(ids, vecs)
    build = time.perf_counter() - start
    del vecs
    med, p95, cpu, found = one_by_one(lambda q: index.search(q, 5)[1], queries)
    recall = recall_at_k(truth, found, 5)
    tuned = f" nprobe={index.nprobe} (build-time recall {index.measured_recall:.3f})" if index.nprobe else ""
    print(f"index n={n:>9,} spread {spread}: {index.kind}{tuned}; build {build:6.1f} s; top-5 wall median "
          f"{med:6.2f} ms (p95 {p95:6.2f}), CPU {cpu:6.2f} ms; exact brute force wall {exact_med:7.2f} ms, CPU "
          f"{exact_cpu:7.2f} ms (CPU speed-up x{exact_cpu / max(cpu, 1e-3):.1f}); recall@5 vs exact {recall:.4f} "
          f"on {len(queries)} fresh queries")


def bench_gallery_open(path: Path, accept_distance: float) -> Gallery:
    """A Gallery of model version "bench" in the SQLite file `path`, built as the app builds it."""
    config = with_changes(load_config(None), {"storage.url": str(path), "gallery.accept_distance": accept_distance})
    return open_gallery(config, "bench", DIM)


def filled_gallery(n: int, folder: Path) -> tuple[Gallery, np.ndarray, float]:
    """A gallery of n synthetic embeddings (50 per identity): the gallery, the identity centres, insert seconds."""
    centres, vecs, labels = synth(n, seed=2)
    gallery = bench_gallery_open(folder / f"gallery_{n}.db", 0.5 * SPREAD * np.sqrt(2 * DIM) * 2)
    db = gallery.db
    start = time.perf_counter()
    with db.write() as s:
        people = [Identity(name=f"person {i}") for i in range(len(centres))]
        s.add_all(people)
        s.flush()
        for p in range(len(centres)):
            insert_vectors(s, vecs[labels == p], identity_id=people[p].id, model_version_id=gallery.model_version_id)
    insert_s = time.perf_counter() - start
    return gallery, centres, insert_s


def bench_gallery(n: int, n_queries: int, folder: Path) -> None:
    """Gallery over a real SQLite file: insert, rebuild from the database, Gallery.match latency."""
    gallery, centres, insert_s = filled_gallery(n, folder)
    db = gallery.db
    start = time.perf_counter()
    gallery.rebuild_index()
    rebuild_s = time.perf_counter() - start
    queries = queries_for(centres, n_queries, seed=3)
    med, p95, cpu, _ = one_by_one(lambda q: np.array([[gallery.match(q[0]).identity_id or -1]]), queries)
    raw_med, _, raw_cpu, _ = one_by_one(lambda q: gallery.index.search(q, 5)[1], queries)
    size_mb = (folder / f"gallery_{n}.db").stat().st_size / 1e6
    print(f"gallery n={n:>9,}: insert {insert_s:6.1f} s ({n / insert_s:,.0f} embeddings/s, {size_mb:,.0f} MB), "
          f"rebuild index from database {rebuild_s:6.1f} s; Gallery.match wall median {med:6.2f} ms (p95 "
          f"{p95:6.2f}), CPU {cpu:.2f} ms (raw index search wall {raw_med:.2f} ms, CPU {raw_cpu:.2f} ms)")
    db.dispose()


def window_record_rate(n: int, folder: Path, windows: int = 600, batch: int = 8) -> float:
    """Windows a second through the pipeline's matcher (match, vote, sighting, stored unknown window, one
    transaction per batch) over a gallery of n embeddings; half the windows are of enrolled people."""
    gallery, centres, _ = filled_gallery(n, folder)
    gallery.rebuild_index()
    config = with_changes(load_config(None), {"gallery.accept_distance": gallery.thresholds.accept_distance})
    matcher = make_matcher(config, gallery, lambda: create_session(gallery.db, folder / f"session_{n}"),
                           owns_database=True)
    vectors = queries_for(centres, windows, seed=7)
    vectors[1::2] = queries_for(np.random.default_rng(8).standard_normal((50, DIM)).astype(np.float32),
                                windows // 2, seed=9)
    data = np.zeros((6, 20, 3), np.float32)
    cut = [Window(track_id=1 + i % 6, data=data, t_start_s=0.1 * i, t_end_s=0.1 * i + 0.2,
                  frame_indices=np.arange(6), raw=data, filled=np.zeros(6, bool)) for i in range(windows)]
    matcher.decide(cut[:batch], vectors[:batch])  # the session row and the first transaction
    start = time.perf_counter()
    for a in range(batch, windows, batch):
        matcher.decide(cut[a:a + batch], vectors[a:a + batch])
    rate = (windows - batch) / (time.perf_counter() - start)
    matcher.close()
    return rate


def bench_window_record(sizes: tuple[int, ...], folder: Path) -> None:
    rates = {n: window_record_rate(n, folder) for n in sizes}
    small, large = min(sizes), max(sizes)
    for n, rate in rates.items():
        print(f"full window record (match + vote + store) with {n:>9,} stored embeddings: {rate:,.0f} windows/s")
    print(f"window record rate at {large:,} / at {small:,}: {rates[large] / rates[small]:.2f} (target: within 20 %)")
    print(f"RESULT record_small={rates[small]:.1f} record_large={rates[large]:.1f} "
          f"ratio={rates[large] / rates[small]:.3f}")


def _reader(url: str, seconds: float, counter) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from storage.models import Sighting
    db = open_database(url)
    end, done = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        with db.read() as s:
            s.scalar(select(func.count()).select_from(Sighting))
            s.execute(select(Sighting).order_by(Sighting.id.desc()).limit(50)).all()
        done += 1
    counter.value = done


def bench_inserts(folder: Path, seconds: float) -> None:
    centres, vecs, labels = synth(10_000, seed=4)
    gallery = bench_gallery_open(folder / "sightings.db", SPREAD * np.sqrt(2 * DIM) * 1.5)
    db = gallery.db
    for p in range(20):
        gallery.enrol(f"p{p}", vecs[labels == p])
    recorder = make_matcher(load_config(None), gallery, lambda: 0, owns_database=False).recorder
    session = create_session(db, folder / "session")
    windows = queries_for(centres, 2000, seed=5)
    windows[1::2] = queries_for(np.random.default_rng(6).standard_normal((50, DIM)).astype(np.float32), 1000)

    def observe(duration: float) -> float:
        count, end = 0, time.monotonic() + duration
        while time.monotonic() < end:
            recorder.observe(session, count % 8, windows[count % len(windows)], count * 0.1, count * 0.1 + 1.0)
            count += 1
        return count / duration

    def store_only(duration: float) -> float:
        count, end = 0, time.monotonic() + duration
        while time.monotonic() < end:
            with db.write() as s:
                s.add(Sighting(session_id=session, decision="unknown", distance=1.0, confidence=0.1,
                               level_distances={"joint": 1.0, "component": 1.0, "limb": 1.0}))
            count += 1
        return count / duration

    def with_reader(run) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        counter = mp.get_context("spawn").Value("i", 0)
        reader = mp.get_context("spawn").Process(target=_reader, args=(db.url, seconds + 3.0, counter))
        reader.start()
        time.sleep(2.0)  # let the reader start up
        rate = run(seconds)
        reader.join()
        return rate, counter.value / (seconds + 1.0)

    for name, run in (("sighting inserts (one transaction each, no matching)", store_only),
                      ("observe (match in 1,000 embeddings + vote + store; half the windows unknown and kept)", observe)):
        alone = run(seconds)
        shared, reads = with_reader(run)
        print(f"{name}: {alone:,.0f}/s alone, {shared:,.0f}/s while another process reads "
              f"({shared / alone:.2f} of alone); the reader ran ~{reads:,.0f} queries/s (count + last 50 rows)")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--record-only", action="store_true", help="only the window record rate at 10k and 1M")
    parser.add_argument("--queries", type=int, default=200, help="fresh queries per size")
    parser.add_argument("--threads", type=int, default=0,
                        help="faiss OpenMP threads for builds (0: faiss default); single queries always use one")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    index_sizes = (10_000, 60_000) if args.quick else (10_000, 100_000, 1_000_000)
    gallery_sizes = (10_000,) if args.quick else (10_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        if args.record_only:
            bench_window_record((10_000, 1_000_000), Path(tmp))
            return
        for n in index_sizes:
            bench_index(n, args.queries)
        bench_index(index_sizes[1], args.queries, spread=1.0)  # a hard case: windows as spread as people
        for n in gallery_sizes:
            bench_gallery(n, args.queries, Path(tmp))
        bench_inserts(Path(tmp), 2.0 if args.quick else 10.0)
        bench_window_record((10_000, 60_000) if args.quick else (10_000, 1_000_000), Path(tmp))


if __name__ == "__main__":
    main()
