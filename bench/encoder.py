"""Encoder and training speed: MSMR windows per second, and seconds per unsupervised training epoch.

    python -m bench.encoder                 # throughput at batch 1..4096, then one epoch on ucalgary-gait
    python -m bench.encoder --quick         # throughput only, smaller runs

Throughput is wall-clock of `HiMPC.encode` on random (B, 6, 20, 3) windows with torch on 2 threads (target on
2 cores: >= 100k windows/s batched), with the heading alignment of the default config and without it, and as
the shipped model runs (alignment and the body-shape term, `shape_weight`); each
figure is the best of five timings, since the machine is a shared VM. The baseline in the same run is the
training-free bone-length feature (`reid.baseline.bone_length_features`, NumPy) on the same windows, so the
ratio says what the learned encoder costs over the cheapest feature we compare it with. The epoch figure is one
full epoch (feature extraction, clustering, one pass of Adam) of the default config on
../shared/data/ucalgary-gait, when that folder exists; times the default epoch cap it estimates a full training
run. Figures depend on the machine's load: the load average is printed.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
import time
from pathlib import Path

import numpy as np
import torch

from app.compose import new_model, train_settings
from app.config import load_config, with_changes
from reid.baseline import bone_length_features
from reid.checkpoint import ModelMeta
from reid.datasets import load_dataset
from reid.train import Trainer, dataset_windows
from tests.shared_data import UCALGARY




def _rate(fn, windows: np.ndarray, repeat: int, rounds: int = 5) -> float:
    """Windows per second of the fastest of `rounds` timings of `repeat` calls: the machine is a shared VM, and
    the best round is the one least disturbed by neighbours."""
    fn(windows)  # warm-up
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            fn(windows)
        best = min(best, time.perf_counter() - started)
    return repeat * len(windows) / best


def throughput(batches: list[int], total: int) -> None:
    torch.manual_seed(0)
    config = load_config()
    model = new_model(with_changes(config, {"model.align_heading": True})).eval()  # windows turned first
    unaligned = new_model(with_changes(config, {"model.align_heading": False})).eval()
    unaligned.load_state_dict(model.state_dict())
    shaped = model.with_shape_weight(140.0).eval()  # as models/default runs: alignment and the shape term
    print(f"{'batch':>6} {'Hi-MPC windows/s':>17} {'no alignment':>13} {'+ shape term':>13} "
          f"{'bone-length windows/s':>22} {'ratio':>6}")
    for batch in batches:
        windows = np.random.default_rng(0).normal(size=(batch, 6, 20, 3)).astype(np.float32)
        repeat = max(1, total // batch)
        ours = _rate(lambda w: model.encode(torch.from_numpy(w)), windows, repeat)
        plain = _rate(lambda w: unaligned.encode(torch.from_numpy(w)), windows, repeat)
        with_shape = _rate(lambda w: shaped.encode(torch.from_numpy(w)), windows, repeat)
        base = _rate(bone_length_features, windows, repeat)
        print(f"{batch:>6} {ours:>17,.0f} {plain:>13,.0f} {with_shape:>13,.0f} {base:>22,.0f} {ours / base:>6.2f}")


def epoch_seconds() -> None:
    if not UCALGARY.exists():
        print(f"(no {UCALGARY}: epoch timing skipped)")
        return
    config = load_config(None)
    settings = replace(train_settings(config), epochs=1)
    windows, groups = dataset_windows(load_dataset(UCALGARY), config.model.frames, config.train.stride)
    torch.manual_seed(0)
    model = new_model(config)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, windows, settings, Path(tmp), ModelMeta(20, 256, 8, 6, "kinect_v1"),
                          groups=groups, progress=False)
        started = time.perf_counter()
        stats = trainer.fit()[0]
        seconds = time.perf_counter() - started
    print(f"one epoch on ucalgary-gait: {len(windows)} windows, batch {settings.batch_size}, {stats.kept} kept, "
          f"clusters {stats.clusters}: {seconds:.1f} s; x{config.train.epochs} epochs (default cap) = "
          f"{seconds * config.train.epochs / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch threads {torch.get_num_threads()}")
    throughput([1, 32, 512, 4096] if not args.quick else [1, 512], 40_000 if not args.quick else 4_000)
    if not args.quick:
        epoch_seconds()


if __name__ == "__main__":
    main()
