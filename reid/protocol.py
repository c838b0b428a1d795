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
    probe_sessions: np.ndarray    # (P,) session id of each window (`Sequence.session_id`)
    gallery_sessions: np.ndarray  # (G,)


def _windows_of(dataset: SkeletonDataset, indices: tuple[int, ...], frames: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sequences = [dataset.sequences[i] for i in indices]
    windows = make_windows(sequences, frames, frames)
    ids = np.array([sequences[i].identity for i in windows.sequence_index], dtype=object)
    sessions = np.array([sequences[i].session_id for i in windows.sequence_index], dtype=object)
    return windows.data, ids, sessions


def split_windows(dataset: SkeletonDataset, probe_set: ProbeSet, frames: int) -> SplitWindows:
    probe, probe_ids, probe_sessions = _windows_of(dataset, probe_set.probe, frames)
    gallery, gallery_ids, gallery_sessions = _windows_of(dataset, probe_set.gallery, frames)
    if len(probe) == 0 or len(gallery) == 0:
        raise DatasetError(f"{dataset.name}/{probe_set.name}: no {frames}-frame window in the "
                           f"{'probe' if len(probe) == 0 else 'gallery'}; sequences are shorter than model.frames")
    return SplitWindows(probe, probe_ids, gallery, gallery_ids, probe_sessions, gallery_sessions)


def model_features(model: HiMPC, device: str = "cpu") -> FeatureFn:
    """MSMR features of a model as a feature function."""
    def extract(windows: np.ndarray) -> np.ndarray:
        return model.to(device).encode(torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(device)
                                       ).cpu().numpy()
    return extract


SHAPE_WEIGHTS: tuple[float, ...] = (0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 240, 280, 320, 400)


def fit_shape_weight(model: HiMPC, dataset: SkeletonDataset, frames: int,
                     grid: tuple[float, ...] = SHAPE_WEIGHTS) -> tuple[float, dict[float, float]]:
    """The body-shape weight w (reid.model.HiMPC `shape_weight`) that retrieves best on a labelled dataset.

    Each w in `grid` is scored by the mean over the dataset's probe sets of (Rank-1 + mAP) / 2, `clean`
    protocol, on the model's MSMR with w times the mean bone lengths appended (what `encode` returns with that
    weight). The MSMR and the lengths are computed once; only their combination changes with w.

    Returns:
        (best w, {w: score in percent}).
    """
    if not dataset.probe_sets:
        raise DatasetError(f"dataset {dataset.name!r} defines no probe/gallery split to fit the shape weight on")
    unit = model.with_shape_weight(1.0)
    parts = []
    for probe_set in dataset.probe_sets:
        split = split_windows(dataset, probe_set, frames)
        probe, gallery = (model_features(unit)(w) for w in (split.probe, split.gallery))
        parts.append((probe, gallery, split))
    scores: dict[float, float] = {}
    for w in grid:
        scale = np.ones(unit.msmr_dim, np.float32)
        scale[3 * unit.hidden:] = w  # the shape columns, computed with w = 1
        metrics = [evaluate(p * scale, s.probe_ids, g * scale, s.gallery_ids, probe_cams=s.probe_sessions,
                            gallery_cams=s.gallery_sessions) for p, g, s in parts]
        scores[w] = float(np.mean([(m.rank1 + m.mAP) / 2 for m in metrics]))
    return max(scores, key=scores.get), scores


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
                                           split.gallery_ids, protocol=protocol, same_set=probe_set.same_set,
                                           probe_cams=split.probe_sessions, gallery_cams=split.gallery_sessions)
    return results
