"""Unsupervised Hi-MPC training (spec §1.9): cluster, then one pass of Adam over the kept windows, per epoch.

The trainer receives windows only, never identities: pseudo-labels come from clustering the model's own
features. It may also receive which sequence (track) each window was cut from; with `ClusterSettings.unit =
"sequence"` (skelwatch's default) it then clusters sequences rather than single windows. Why: six frames of one
person at two gait phases differ more than two people at one phase, so window clusters group phases, and a
model trained on them learns pose, not people. A track is one person by construction (it is what the tracker or
the recording gives, never an identity label), so its windows share one pseudo-label and the model learns what
stays constant along a walk.

Model selection is label-free by default: the silhouette of the MSMR features under the epoch's
pseudo-labels (compact, well separated clusters), measured before the epoch's updates like the official code's
test-set selection, but on the training data itself. Everything is seeded; an epoch is deterministic on CPU.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from sklearn.metrics import silhouette_score
from tqdm import tqdm

from reid.checkpoint import ModelMeta, load_model, save_model
from reid.cluster import ClusterResult, cluster_levels
from reid.datasets.base import SkeletonDataset
from reid.errors import CheckpointError, DatasetError
from reid.levels import LEVELS
from reid.loss import LossSettings, himpc_loss
from reid.model import HiMPC
from reid.windows import make_windows

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"
SILHOUETTE_SAMPLE = 4000


@dataclass(frozen=True)
class ClusterSettings:
    eps: float = 0.6
    min_samples: int = 2
    k1: int = 20
    k2: int = 6
    normalize: bool = True
    unit: Literal["sequence", "window"] = "window"  # what gets clustered; "window" is the official code


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 3.5e-4
    seed: int = 0
    patience: int = 10
    selection: Literal["label-free", "last"] = "label-free"
    # "epoch": a new window order every epoch over every window. "once": the official code's order, shuffled
    # once before training, with the tail beyond a multiple of batch_size dropped before any clustering.
    shuffle: Literal["epoch", "once"] = "epoch"
    device: str = "cpu"
    loss: LossSettings = field(default_factory=LossSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    clusters: dict[str, int]
    outliers: int        # windows dropped because they are an outlier at any level
    kept: int
    loss: float
    level_loss: dict[str, float]
    score: float         # label-free selection score (higher is better); nan when undefined
    best: bool
    seconds: float


def selection_score(instances: dict[str, np.ndarray], result: ClusterResult, seed: int) -> float:
    """Label-free model quality in [-1, 1]: the mean over levels of the silhouette of the kept windows'
    L2-normalised instances under that level's pseudo-labels (the space the clustering works in).

    Higher means tighter, better separated pseudo-identities. NaN when a level has fewer than two clusters.
    """
    scores = []
    for level, feats in instances.items():
        labels = result.labels[level][result.keep]
        if len(np.unique(labels)) < 2:
            return float("nan")
        kept = feats[result.keep]
        kept = kept / np.maximum(np.linalg.norm(kept, axis=1, keepdims=True), 1e-12)
        size = min(SILHOUETTE_SAMPLE, len(labels))
        scores.append(silhouette_score(kept, labels, sample_size=size, random_state=seed))
    return float(np.mean(scores))


def dataset_windows(dataset: SkeletonDataset, frames: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Root-centred windows of the dataset's training sequences, (N, f, V, 3), and each window's sequence
    number, (N,): joints and sequence membership only, never identities."""
    windows = make_windows([dataset.sequences[i] for i in dataset.train], frames, stride)
    return windows.data, windows.sequence_index


class Trainer:
    """Owns the epoch loop, the selection schedule and the checkpoints of one run folder.

    Args:
        model: the network to train (random init or a checkpoint to adapt).
        windows: (N, f, V, 3) float32 root-centred training windows; no labels.
        groups: (N,) sequence (track) number of each window, or None when every window stands alone.
        run_dir: `runs/<name>/`: receives `last/`, `best/` (checkpoints), `metrics.json`.
        meta: layout and sizes recorded with every checkpoint.
        on_epoch: called with each epoch's stats (the GUI's progress bar and curve).
    """

    def __init__(self, model: HiMPC, windows: np.ndarray, settings: TrainSettings, run_dir: Path, meta: ModelMeta,
                 groups: np.ndarray | None = None, on_epoch: Callable[[EpochStats], None] | None = None,
                 progress: bool = True) -> None:
        if windows.ndim != 4 or windows.shape[2:] != (model.num_joints, 3):
            raise DatasetError(f"training windows must be (N, f, {model.num_joints}, 3), got {windows.shape}")
        if len(windows) < max(settings.batch_size, settings.cluster.min_samples + 1):
            raise DatasetError(f"only {len(windows)} training windows, fewer than one batch of "
                               f"{settings.batch_size}; record more data or lower train.batch_size")
        if not np.isfinite(windows).all():
            raise DatasetError("training windows contain NaN or infinite coordinates; repair the data first")
        if groups is not None and np.shape(groups) != (len(windows),):
            raise DatasetError(f"groups must hold one sequence number per window ({len(windows)}), "
                               f"got shape {np.shape(groups)}")
        self.groups = None if groups is None or settings.cluster.unit == "window" else np.asarray(groups)
        if settings.shuffle == "once":  # the official code: one seeded shuffle, the tail beyond whole batches cut
            order = np.random.default_rng(settings.seed).permutation(len(windows))
            order = order[:len(order) // settings.batch_size * settings.batch_size]
            windows = windows[order]
            self.groups = None if self.groups is None else self.groups[order]
        self.model = model.to(settings.device)
        self.windows = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        self.settings, self.run_dir, self.meta = settings, Path(run_dir), meta
        self.on_epoch, self.progress = on_epoch, progress
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.lr)
        self.history: list[EpochStats] = []
        self.best_score, self.stale, self.start_epoch = -np.inf, 0, 0

    # -- persistence -----------------------------------------------------------------------------------
    def _save_state(self, epoch: int) -> None:
        save_model(self.run_dir / "last", self.model, self.meta)
        state = {"optimizer": self.optimizer.state_dict(), "epoch": epoch, "best_score": self.best_score,
                 "stale": self.stale, "torch_rng": torch.get_rng_state()}
        torch.save(state, self.run_dir / "last" / STATE_FILE)
        (self.run_dir / "metrics.json").write_text(
            json.dumps({"epochs": [asdict(s) for s in self.history]}, indent=1), encoding="utf-8")

    def resume(self) -> int:
        """Continue a run from `last/`; returns the epoch it resumes at."""
        last = self.run_dir / "last"
        if not (last / STATE_FILE).exists():
            raise CheckpointError(f"{self.run_dir}: nothing to resume (no last/{STATE_FILE}); start without --resume")
        loaded, _ = load_model(last, expect_joints=self.model.num_joints, device=self.settings.device)
        self.model.load_state_dict(loaded.state_dict())
        state = torch.load(last / STATE_FILE, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.start_epoch, self.best_score, self.stale = state["epoch"] + 1, state["best_score"], state["stale"]
        metrics = json.loads((self.run_dir / "metrics.json").read_text(encoding="utf-8"))["epochs"]
        self.history = [EpochStats(**m) for m in metrics]
        return self.start_epoch

    # -- the loop -----------------------------------------------------------------------------------------
    def _cluster(self) -> tuple[ClusterResult, dict[str, np.ndarray]]:
        inst = self.model.instances(self.windows.to(self.settings.device))
        feats = {lvl: inst[lvl].cpu().numpy() for lvl in LEVELS}
        c = self.settings.cluster
        result = cluster_levels(feats, eps=c.eps, min_samples=c.min_samples, k1=c.k1, k2=c.k2,
                                normalize=c.normalize, groups=self.groups)
        return result, feats

    def _epoch_pass(self, result: ClusterResult, epoch: int) -> tuple[float, dict[str, float]]:
        kept = np.flatnonzero(result.keep)
        if self.settings.shuffle == "once":  # already in the once-shuffled order
            order = kept
        else:
            generator = torch.Generator().manual_seed(self.settings.seed * 100_003 + epoch)
            order = kept[torch.randperm(len(kept), generator=generator).numpy()]
        batches = len(order) // self.settings.batch_size  # the last partial batch is dropped, as in the spec
        device = self.settings.device
        protos = {lvl: torch.from_numpy(result.prototypes[lvl]).to(device) for lvl in LEVELS}
        labels = {lvl: torch.from_numpy(result.labels[lvl]).long() for lvl in LEVELS}
        totals, level_totals = 0.0, {lvl: 0.0 for lvl in LEVELS}
        self.model.train()
        for b in tqdm(range(batches), desc=f"epoch {epoch + 1}", leave=False, disable=not self.progress):
            idx = torch.from_numpy(order[b * self.settings.batch_size:(b + 1) * self.settings.batch_size])
            out = self.model(self.windows[idx].to(device))
            loss = himpc_loss(self.model, out, protos, {lvl: labels[lvl][idx].to(device) for lvl in LEVELS},
                              self.settings.loss)
            self.optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            self.optimizer.step()
            totals += float(loss.total.detach())
            for lvl in LEVELS:
                level_totals[lvl] += loss.per_level[lvl]
        n = max(batches, 1)
        return totals / n, {lvl: v / n for lvl, v in level_totals.items()}

    def fit(self) -> list[EpochStats]:
        """Train until `epochs` or until `patience` epochs pass without a better selection score."""
        torch.manual_seed(self.settings.seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for epoch in range(self.start_epoch, self.settings.epochs):
            started = time.perf_counter()
            result, instances = self._cluster()
            score = selection_score(instances, result, self.settings.seed)
            is_best = self.settings.selection == "label-free" and np.isfinite(score) and score > self.best_score
            if is_best:
                # The weights scored here are the ones before this epoch's updates: save them as `best`.
                self.best_score, self.stale = score, 0
                save_model(self.run_dir / "best", self.model, self.meta)
            elif self.settings.selection == "label-free":
                self.stale += 1
            clusters = {lvl: int(result.prototypes[lvl].shape[0]) for lvl in LEVELS}
            kept = int(result.keep.sum())
            if kept < self.settings.batch_size or min(clusters.values()) < 2:
                hint = ("; with cluster.unit=sequence and cluster.min_samples above 1, a person seen in one track "
                        "only is an outlier") if self.groups is not None else ""
                logger.warning("epoch %d: %d windows kept, clusters %s: too few to train on; stopping (try a "
                               "larger cluster.eps or smaller train.batch_size%s)", epoch + 1, kept, clusters, hint)
                break
            loss, level_loss = self._epoch_pass(result, epoch)
            stats = EpochStats(epoch + 1, clusters, len(result.keep) - kept, kept, loss, level_loss, score,
                               is_best, time.perf_counter() - started)
            self.history.append(stats)
            self._save_state(epoch)
            logger.info("epoch %d: clusters J/C/L %d/%d/%d, outliers %d, loss %.4f, score %.4f%s, %.1f s",
                        stats.epoch, clusters["joint"], clusters["component"], clusters["limb"], stats.outliers,
                        loss, score, " (best)" if is_best else "", stats.seconds)
            if self.on_epoch:
                self.on_epoch(stats)
            if self.stale >= self.settings.patience:
                logger.info("no better selection score for %d epochs: stopping", self.stale)
                break
        if self.settings.selection == "last" or not (self.run_dir / "best").exists():
            save_model(self.run_dir / "best", self.model, self.meta)
        return self.history
