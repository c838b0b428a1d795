"""Run a feature extractor (a model or a baseline) over every probe set of a dataset.

Probe and gallery sequences are cut into non-overlapping windows of f frames (spec §3: test samples); each
window carries its sequence's identity. Shared by the `evaluate` command, the GUI's before/after check and the
accuracy tests, so all report the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from reid.datasets.base import ProbeSet, SkeletonDataset
from reid.errors import DatasetError
from reid.evaluate import Metrics, evaluate
from reid.model import HiMPC
from reid.windows import make_windows

FeatureFn = Callable[[np.ndarray], np.ndarray]  # (N, f, V, 3) root-centred windows -> (N, D) features


@dataclass(frozen=True)
class SplitWindows:
    probe: np.ndarray          # (P, f, V, 3)
    probe_ids: np.ndarray      # (P,) identity labels
    gallery: np.ndarray        # (G, f, V, 3)
    gallery_ids: np.ndarray    # (G,)


def _windows_of(dataset: SkeletonDataset, indices: tuple[int, ...], frames: int) -> tuple[np.ndarray, np.ndarray]:
    sequences = [dataset.sequences[i] for i in indices]
    windows = make_windows(sequences, frames, frames)
    ids = np.array([sequences[i].identity for i in windows.sequence_index], dtype=object)
    return windows.data, ids


def split_windows(dataset: SkeletonDataset, probe_set: ProbeSet, frames: int) -> SplitWindows:
    probe, probe_ids = _windows_of(dataset, probe_set.probe, frames)
    gallery, gallery_ids = _windows_of(dataset, probe_set.gallery, frames)
    if len(probe) == 0 or len(gallery) == 0:
        raise DatasetError(f"{dataset.name}/{probe_set.name}: no {frames}-frame window in the "
                           f"{'probe' if len(probe) == 0 else 'gallery'}; sequences are shorter than model.frames")
    return SplitWindows(probe, probe_ids, gallery, gallery_ids)


def model_features(model: HiMPC, device: str = "cpu") -> FeatureFn:
    """MSMR features of a model as a feature function."""
    def extract(windows: np.ndarray) -> np.ndarray:
        return model.to(device).encode(torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(device)
                                       ).cpu().numpy()
    return extract


def evaluate_dataset(features: FeatureFn, dataset: SkeletonDataset, frames: int, protocol: str = "clean",
                     probe_sets: list[str] | None = None) -> dict[str, Metrics]:
    """Metrics per probe set (all of them, or those named)."""
    if not dataset.probe_sets:
        raise DatasetError(f"dataset {dataset.name!r} defines no probe/gallery split to evaluate on")
    chosen = [dataset.probe_set(n) for n in probe_sets] if probe_sets else dataset.probe_sets
    results = {}
    for probe_set in chosen:
        split = split_windows(dataset, probe_set, frames)
        results[probe_set.name] = evaluate(features(split.probe), split.probe_ids, features(split.gallery),
                                           split.gallery_ids, protocol=protocol, same_set=probe_set.same_set)
    return results
