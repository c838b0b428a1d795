"""Find unusable joints (NaN, untracked all-zero) and repair or drop them, counting everything.

Why interpolation only over short gaps: a joint missing for a few frames (a tracker flicker) is well
predicted by its neighbours, but over a long gap a straight line would invent motion. Frames that still miss a
joint after repair are dropped, as the official IAS/BIWI preprocessing drops frames with untracked joints.
"""
from __future__ import annotations

import logging

import numpy as np

from reid.datasets.base import RepairReport

logger = logging.getLogger(__name__)

DEFAULT_MAX_GAP = 5  # frames (~0.17 s at 30 fps): longer gaps are not interpolated
DEFAULT_MIN_FRAMES = 6  # the default window length f (spec §1.1): a shorter sequence gives no sample


def missing_mask(joints: np.ndarray) -> np.ndarray:
    """(T, V, 3) -> (T, V) bool: True where a joint has a NaN/inf coordinate or is exactly (0, 0, 0).

    Kinect SDKs write an untracked joint as zeros; a real joint is never exactly at the sensor origin.
    """
    arr = np.asarray(joints)
    return ~np.isfinite(arr).all(axis=-1) | (arr == 0).all(axis=-1)


def _interpolate_joint(track: np.ndarray, missing: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill interior runs of `missing` no longer than `max_gap` in a (T, 3) track; returns the filled mask."""
    filled = np.zeros_like(missing)
    valid = np.flatnonzero(~missing)
    if valid.size < 2:
        return filled
    t = 0
    n = missing.size
    while t < n:
        if not missing[t]:
            t += 1
            continue
        end = t
        while end < n and missing[end]:
            end += 1
        if t > 0 and end < n and end - t <= max_gap:  # interior gap with valid frames on both sides
            frac = (np.arange(t, end) - (t - 1)) / (end - (t - 1))
            track[t:end] = track[t - 1] + frac[:, None] * (track[end] - track[t - 1])
            filled[t:end] = True
        t = end
    return filled


def repair_sequence(joints: np.ndarray, name: str, report: RepairReport, *, max_gap: int = DEFAULT_MAX_GAP,
                    min_frames: int = DEFAULT_MIN_FRAMES) -> np.ndarray | None:
    """Repair short joint gaps by linear interpolation and drop frames that still miss a joint.

    Args:
        joints: (T, V, 3) metres; NaN/inf or all-zero joints count as missing.
        name: the sequence name used in the report.
        report: updated in place (frames read, repaired, dropped; a dropped sequence with its reason).
        max_gap: longest run of missing frames (per joint) that is interpolated.
        min_frames: a sequence with fewer usable frames is dropped and recorded.
    Returns:
        (T', V, 3) float32 with no missing joint, or None when fewer than `min_frames` frames remain.
    """
    arr = np.array(joints, dtype=np.float32)  # a copy: the caller's array is never changed
    report.frames_read += arr.shape[0]
    missing = missing_mask(arr)
    if missing.any():
        arr[missing] = np.nan
        repaired = np.zeros_like(missing)
        for v in range(arr.shape[1]):
            if missing[:, v].any():
                repaired[:, v] = _interpolate_joint(arr[:, v], missing[:, v], max_gap)
        report.joints_repaired += int(repaired.sum())
        report.frames_repaired += int(repaired.any(axis=1).sum())
        keep = ~(missing & ~repaired).any(axis=1)
        dropped = int((~keep).sum())
        if dropped:
            report.frames_dropped += dropped
            logger.debug("%s: dropped %d of %d frames with untracked joints", name, dropped, keep.size)
        arr = arr[keep]
    if arr.shape[0] < min_frames:
        report.skip(name, f"{arr.shape[0]} usable frames, fewer than the minimum {min_frames}", is_file=False)
        return None
    return arr
