"""What the tracker measures on one 3D skeleton: a body centre and bone lengths (a body-shape signature).

Batched over the skeletons of a frame: one skeleton at a time costs ~10x more in numpy call overhead.
"""
from __future__ import annotations

import numpy as np

TORSO_JOINTS = (0, 1, 2, 12, 16)  # HipCenter, Spine, ShoulderCenter, HipLeft, HipRight (canonical order)
# Bones whose lengths describe a body: spine, neck, arms, legs, shoulder and hip widths (canonical indices).
BONES = np.array([(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (8, 9), (9, 10), (12, 13), (13, 14), (16, 17),
                  (17, 18), (4, 8), (12, 16)])
_TORSO_MASK = np.isin(np.arange(20), TORSO_JOINTS)  # (20,)


def body_centres(joints: np.ndarray, confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """Per skeleton, the mean of its confident finite torso joints, else of all its confident finite joints.

    Batched over skeletons: one skeleton at a time costs ~10x more in numpy call overhead.
    Args:
        joints: (M, 20, 3) canonical joints, metres.  confidence: (M, 20) in [0, 1].
    Returns:
        (M, 3) float64 centres; a row is NaN for a skeleton without any confident finite joint.
    """
    usable = (confidence >= min_confidence) & np.isfinite(joints).all(axis=2)  # (M, 20)
    torso = usable & _TORSO_MASK
    weight = np.where(torso.any(axis=1, keepdims=True), torso, usable).astype(np.float64)  # (M, 20)
    total = np.einsum("mj,mjd->md", weight, np.where(usable[..., None], joints, 0.0))  # (M, 3)
    count = weight.sum(axis=1, keepdims=True)
    return np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)


def bone_lengths(joints: np.ndarray, confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """(M, 20, 3), (M, 20) -> (M, B) lengths of `BONES` in metres; NaN where an end is unsure or not finite."""
    ends = joints[:, BONES]  # (M, B, 2, 3)
    sure = (confidence[:, BONES] >= min_confidence).all(axis=2)  # (M, B)
    lengths = np.linalg.norm(ends[:, :, 0] - ends[:, :, 1], axis=2)
    return np.where(sure, lengths, np.nan)


def shape_cost(track_bones: np.ndarray, det_bones: np.ndarray) -> np.ndarray:
    """Mean absolute bone-length difference over the bones both sides know: (N, B), (M, B) -> (N, M) metres."""
    diff = np.abs(track_bones[:, None, :] - det_bones[None, :, :])  # (N, M, B)
    known = np.isfinite(diff)
    count = known.sum(axis=2)
    total = np.where(known, diff, 0.0).sum(axis=2)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
