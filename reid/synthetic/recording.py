"""Synthetic recordings: sensor noise and lost joints, viewpoints, and the labelled dataset."""
from __future__ import annotations

import logging

import numpy as np

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets.repair import repair_sequence
from reid.errors import DatasetError
from reid.skeleton import NUM_CANONICAL
from reid.synthetic.body import DEFAULT_CAMERA_HEIGHT_M, limping, make_identities
from reid.synthetic.walker import EXTREMITIES, walk

logger = logging.getLogger(__name__)


def add_sensor_noise(joints: np.ndarray, rng: np.random.Generator, *, noise_m: float = 0.01,
                     bias_m: float = 0.008, drop_rate: float = 0.002, frame_drop_rate: float = 0.002) -> np.ndarray:
    """What a depth tracker adds: jitter and a per-recording joint bias (both doubled on hands, wrists and
    feet), and lost joints and frames.

    The bias (a constant offset per joint for the whole sequence) models a tracker placing a joint a little
    differently in each recording, so bone lengths differ by about a centimetre between sequences of one
    person, as in Kinect data; without it averaged bone lengths identify a synthetic walker perfectly.

    Args:
        joints: (T, V, 3) clean positions, metres.
        noise_m: standard deviation of the per-frame, per-coordinate jitter.
        bias_m: standard deviation of the per-sequence, per-joint, per-coordinate offset.
        drop_rate: per joint and frame, the chance that a 1-3 frame burst of that joint is lost (NaN).
        frame_drop_rate: per frame, the chance that the whole skeleton is untracked (all zeros, as Kinect writes).
    Returns:
        (T, V, 3) float32 copy with noise, NaN for lost joints and zero rows for untracked frames.
    """
    out = np.array(joints, dtype=np.float32)
    scale = np.ones(out.shape[1], dtype=np.float32)
    if out.shape[1] == NUM_CANONICAL:
        scale[list(EXTREMITIES)] = 2.0
    out += rng.normal(0.0, noise_m, out.shape).astype(np.float32) * scale[None, :, None]
    out += rng.normal(0.0, bias_m, out.shape[1:]).astype(np.float32) * scale[:, None]
    frames = out.shape[0]
    for t, v in zip(*np.nonzero(rng.random(out.shape[:2]) < drop_rate)):
        out[t : t + int(rng.integers(1, 4)), v] = np.nan
    out[rng.random(frames) < frame_drop_rate] = 0.0
    return out


def viewpoint_headings(count: int, rng: np.random.Generator, spread_rad: float = 0.5) -> np.ndarray:
    """`count` headings drawn uniformly within +-spread_rad of "towards the camera" (pi)."""
    return np.pi + rng.uniform(-spread_rad, spread_rad, count)


def make_dataset(n_identities: int = 20, sequences_per_identity: int = 6, frames: int = 120, seed: int = 0, *,
                 limp_sequences: int = 0, fps: float = 30.0, noise_m: float = 0.01, bias_m: float = 0.008,
                 drop_rate: float = 0.002, frame_drop_rate: float = 0.002, heading_spread_rad: float = 0.5,
                 camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M, centre_depth_m: float = 3.0) -> SkeletonDataset:
    """A labelled synthetic dataset in the canonical layout, deterministic for a seed.

    Every sequence walks a straight line through (0, floor, centre_depth_m) with a heading drawn around
    "towards the camera" (pi +- heading_spread_rad), then gets sensor noise and is repaired like a recording
    (the report counts what was interpolated or dropped). Probe set `normal`: gallery = the first half of each
    identity's sequences, probe = the rest. With `limp_sequences` > 0 each identity also walks that many times
    with a limp (alternating right and left; condition "limp") and probe set `limp` matches those against
    every normal sequence. Training = every sequence, without labels.

    Raises:
        DatasetError: for fewer than 2 sequences per identity, frames < 1 or limp_sequences < 0.
    """
    if sequences_per_identity < 2:
        raise DatasetError(f"synthetic dataset: sequences_per_identity={sequences_per_identity}; need >= 2 "
                           f"(one for the gallery, one for the probe)")
    if frames < 1 or limp_sequences < 0:
        raise DatasetError(f"synthetic dataset: frames={frames}, limp_sequences={limp_sequences}; need frames >= 1 "
                           f"and limp_sequences >= 0")
    rng = np.random.default_rng([seed, 1])
    report = RepairReport()
    sequences: list[Sequence] = []
    splits: dict[str, list[int]] = {"gallery": [], "probe": [], "limp": []}
    noise = {"noise_m": noise_m, "bias_m": bias_m, "drop_rate": drop_rate, "frame_drop_rate": frame_drop_rate}
    for person in make_identities(n_identities, seed):
        count = sequences_per_identity + limp_sequences
        for k, heading in enumerate(viewpoint_headings(count, rng, heading_spread_rad)):
            is_limp = k >= sequences_per_identity
            params = limping(person, ("right", "left")[k % 2]) if is_limp else person
            distance = params.speed_mps * frames / fps
            fwd = np.array([np.sin(heading), 0.0, np.cos(heading)])
            start = np.array([0.0, -camera_height_m, centre_depth_m]) - fwd * distance / 2.0
            clean = walk(params, frames / fps, fps, tuple(start), float(heading), rng)
            name = f"{person.identity}/seq{k}"
            joints = repair_sequence(add_sensor_noise(clean, rng, **noise), name, report, min_frames=1)
            if joints is None:
                continue
            split = "limp" if is_limp else ("gallery" if k < sequences_per_identity // 2 else "probe")
            splits[split].append(len(sequences))
            sequences.append(Sequence(joints, person.identity, name, "limp" if is_limp else "normal", fps))
    logger.debug("synthetic dataset: %s", report.summary())
    probe_sets = [ProbeSet("normal", tuple(splits["probe"]), tuple(splits["gallery"]))]
    if splits["limp"]:
        probe_sets.append(ProbeSet("limp", tuple(splits["limp"]), tuple(sorted(splits["gallery"] + splits["probe"]))))
    limp_text = f",limp={limp_sequences}" if limp_sequences else ""
    return SkeletonDataset(
        name=f"synthetic(ids={n_identities},seqs={sequences_per_identity}{limp_text},seed={seed})",
        layout="kinect_v1", sequences=sequences, probe_sets=probe_sets, train=tuple(range(len(sequences))),
        report=report)
