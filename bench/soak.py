"""Soak: the headless pipeline on a synthetic scene where people keep coming and going, for a long time.

    python -m bench.soak [--minutes 10] [--people 4] [--sample-s 10] [--size 320x240] [--out soak.json]

The scene is the demo's walkers (same seed, so the demo gallery knows them): every `--visit-s` seconds each
person crosses the room once, so new tracks are born and end all the time, and each identity comes back. The
pipeline runs paced at real time with the gallery (a copy of `<home>/skelwatch.db` when there is one, so
sightings, votes and alerts are exercised). Every `--sample-s` seconds it samples:

- RSS (VmRSS) and open file descriptors of this process;
- FPS: frames processed over the interval / its wall time;
- the size of every per-track structure: every dict, set, list and deque attribute of the tracker, the window
  buffer, the tracking worker, the encoder worker, the matcher, the sighting recorder, the voter and the alert
  engine, found by walking their attributes, so a structure added later is measured without editing this file.

The closing note gives the growth per hour: a least-squares slope over the samples after the first minute (RSS
in MB/h, open files and each structure in items/h) and FPS in the last quarter vs the first quarter after
warm-up. Targets (issue 17): RSS growth under 20 MB/h, FPS flat within 10 %. It ends with
`RESULT rss_growth_mb_per_h=... fps_change_pct=... fd_growth_per_h=... worst_structure=... worst_growth_per_h=...`
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from app.config import home_dir, load_config
from app.events import FrameResult
from app.compose import build_pipeline
from app.pipeline.runner import Listener
from capture.sources.synthetic import DEMO_FPS, DEMO_PEOPLE, DEMO_SEED, SyntheticScene

WARMUP_S = 60.0  # the first minute (model load, caches, first tracks) is left out of the growth fit


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _holders(pipeline: Any) -> dict[str, Any]:
    """The objects that keep per-track state, by label (None where this version of the pipeline has none)."""
    track_w, encode_w = getattr(pipeline, "_track_w", None), getattr(pipeline, "_encode_w", None)
    matcher = getattr(encode_w, "matcher", None)
    recorder = getattr(matcher, "recorder", None)
    return {"tracker": getattr(track_w, "tracker", None), "buffer": getattr(track_w, "buffer", None),
            "tracking_worker": track_w, "encoder_worker": encode_w, "matcher": matcher, "sighting_recorder": recorder,
            "voter": getattr(recorder, "voter", None), "alerts": getattr(recorder, "alerts", None)}


def structure_sizes(pipeline: Any) -> dict[str, int]:
    """len() of every container attribute of the per-track state holders (read from another thread: a len is
    atomic in CPython, and a dict resized meanwhile is retried once)."""
    sizes = {}
    for label, obj in _holders(pipeline).items():
        if obj is None:
            continue
        for name, value in list(vars(obj).items()):
            if isinstance(value, (dict, set, list, deque)):
                sizes[f"{label}.{name}"] = len(value)
    return sizes


class Counter(Listener):
    """Counts processed frames and keeps worker errors (called on the pipeline's threads)."""

    def __init__(self) -> None:
        self.frames = 0
        self.errors: list[str] = []

    def on_frame(self, result: FrameResult) -> None:
        self.frames += 1

    def on_error(self, stage: str, error: BaseException) -> None:
        self.errors.append(f"{stage}: {error}")


def copy_gallery(target: Path) -> bool:
    """A consistent copy of the local gallery (sqlite backup: safe while the file is in WAL mode)."""
    source = home_dir() / "skelwatch.db"
    if not source.is_file():
        return False
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return True


def slope_per_h(t_s: np.ndarray, values: np.ndarray) -> float:
    if len(t_s) < 3 or np.ptp(t_s) <= 0:
        return float("nan")
    return float(np.polyfit(t_s / 3600.0, values, 1)[0])


def soak(minutes: float, people: int, sample_s: float, size: tuple[int, int], visit_s: float) -> list[dict]:
    seconds = minutes * 60.0
    tmp = Path(tempfile.mkdtemp(prefix="skelwatch-soak-"))
    try:
        db = tmp / "soak.db"
        enrolled = copy_gallery(db)
        config = load_config(None, [f"storage.url={db}"])
        scene = SyntheticScene(people, seconds, DEMO_FPS, DEMO_SEED, visits=max(1, int(seconds // visit_s)),
                               width=size[0], height=size[1])
        counter = Counter()
        pipeline = build_pipeline(config, scene, speed=1.0, skeletons_given=True, gallery=True,
                                  session_label=str(tmp / "soak-session"), listeners=(counter,))
        print(f"soak: {minutes:g} min, {people} people crossing every {visit_s:g} s, {size[0]}x{size[1]}, "
              f"gallery {'copied from ' + str(home_dir() / 'skelwatch.db') if enrolled else 'empty'}", flush=True)
        samples: list[dict] = []
        start = time.monotonic()
        pipeline.start()
        last_t, last_frames = start, 0
        while not pipeline.wait(sample_s):
            now = time.monotonic()
            frames = counter.frames
            sample = {"t_s": round(now - start, 1), "rss_mb": round(rss_mb(), 2), "open_files": open_files(),
                      "fps": round((frames - last_frames) / (now - last_t), 2), "frames": frames,
                      "db_mb": round(sum(p.stat().st_size for p in tmp.glob("soak.db*")) / 2**20, 2),
                      "sizes": structure_sizes(pipeline)}
            last_t, last_frames = now, frames
            samples.append(sample)
            big = sorted(sample["sizes"].items(), key=lambda kv: -kv[1])[:4]
            print(f"  t={sample['t_s']:7.1f}s rss={sample['rss_mb']:7.1f}MB fds={sample['open_files']:3d} "
                  f"fps={sample['fps']:5.1f} db={sample['db_mb']:.1f}MB  " +
                  " ".join(f"{k}={v}" for k, v in big), flush=True)
        summary = pipeline.stop()
        if counter.errors:
            print("errors: " + "; ".join(counter.errors[:5]))
        print(f"done: {summary.frames} frames, {summary.windows_encoded} windows encoded, "
              f"{summary.confirmed_tracks} confirmed tracks")
        return samples
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(samples: list[dict], load: tuple[float, float, float]) -> str:
    """The closing note: growth per hour after warm-up and the FPS drift; returns the RESULT line."""
    after = [s for s in samples if s["t_s"] >= min(WARMUP_S, samples[-1]["t_s"] / 2)] if samples else []
    if len(after) < 3:
        return "RESULT samples=too_few"
    t = np.array([s["t_s"] for s in after])
    rss_slope = slope_per_h(t, np.array([s["rss_mb"] for s in after]))
    fd_slope = slope_per_h(t, np.array([s["open_files"] for s in after], dtype=float))
    fps = np.array([s["fps"] for s in after])
    quarter = max(1, len(fps) // 4)
    fps_change = 100.0 * (fps[-quarter:].mean() / max(fps[:quarter].mean(), 1e-9) - 1.0)
    names = sorted({k for s in after for k in s["sizes"]})
    growth = {k: slope_per_h(t, np.array([s["sizes"].get(k, 0) for s in after], dtype=float)) for k in names}
    print(f"\nafter warm-up ({len(after)} samples, {t[0]:.0f}-{t[-1]:.0f} s; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}):")
    print(f"  RSS {after[0]['rss_mb']:.1f} -> {after[-1]['rss_mb']:.1f} MB, growth {rss_slope:+.1f} MB/h "
          f"(target < 20)")
    print(f"  open files {after[0]['open_files']} -> {after[-1]['open_files']}, growth {fd_slope:+.1f}/h")
    print(f"  FPS first quarter {fps[:quarter].mean():.2f}, last quarter {fps[-quarter:].mean():.2f}: "
          f"{fps_change:+.1f} % (target within 10 %)")
    print("  per-track structures (first -> last, max, growth per hour):")
    for k in names:
        series = [s["sizes"].get(k, 0) for s in after]
        print(f"    {k:<40} {series[0]:>6} -> {series[-1]:>6}  max {max(series):>6}  {growth[k]:+9.1f}/h")
    worst = max(names, key=lambda k: growth[k] if np.isfinite(growth[k]) else -1e18) if names else "none"
    return (f"RESULT rss_growth_mb_per_h={rss_slope:.1f} fps_change_pct={fps_change:.1f} "
            f"fd_growth_per_h={fd_slope:.1f} worst_structure={worst} "
            f"worst_growth_per_h={growth.get(worst, float('nan')):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--people", type=int, default=DEMO_PEOPLE)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--visit-s", type=float, default=20.0, help="seconds per crossing of every person")
    parser.add_argument("--size", default="320x240", help="rendered image size WxH")
    parser.add_argument("--out", type=Path, help="write the samples as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    width, height = (int(v) for v in args.size.lower().split("x"))
    samples = soak(args.minutes, args.people, args.sample_s, (width, height), args.visit_s)
    if args.out:
        args.out.write_text(json.dumps(samples, indent=1), encoding="utf-8")
    print(report(samples, os.getloadavg()))


if __name__ == "__main__":
    main()
