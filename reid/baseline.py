"""Training-free baselines printed beside the model: hand-made features, Euclidean nearest neighbour.

A learned embedding is only worth its training if it beats these. Each baseline maps windows of canonical
skeletons to one feature vector per window; retrieval is then `reid.evaluate.evaluate` on those features.

- `bone_length`: the body's proportions, the median over the window of each bone's length. Lengths do not
  depend on where the person stands or how they turn, and the median ignores a few jittery frames.
- `centred_pose`: the raw root-centred coordinates, flattened; this is exactly the model's input (spec §1.1)
  with an identity encoder.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from reid.errors import SkeletonError
from reid.evaluate import EvaluationError
from reid.skeleton import CANONICAL_JOINTS, KINECT_V1, check_joints, root_centre

# The Kinect v1 joint tree as (parent, child) pairs of canonical indices (spec §1.2 joint order).
BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3),  # HipCenter-Spine-ShoulderCenter-Head
    (2, 4), (4, 5), (5, 6), (6, 7),  # left arm to HandLeft
    (2, 8), (8, 9), (9, 10), (10, 11),  # right arm to HandRight
    (0, 12), (12, 13), (13, 14), (14, 15),  # left leg to FootLeft
    (0, 16), (16, 17), (17, 18), (18, 19),  # right leg to FootRight
)
# Wrist-hand and ankle-foot collapse to zero length in layouts whose hand or foot is a stand-in (the wrist or
# the ankle, reid/skeleton.py). Leaving them out of every feature, not only for such layouts, keeps features
# from different cameras comparable: a real 8 cm hand would otherwise count as a difference against a 0.
STAND_IN_BONES: tuple[tuple[int, int], ...] = ((6, 7), (10, 11), (14, 15), (18, 19))
SHAPE_BONES: tuple[tuple[int, int], ...] = tuple(b for b in BONES if b not in STAND_IN_BONES)


def _check_windows(windows: np.ndarray) -> np.ndarray:
    arr = check_joints(windows, KINECT_V1, "baseline windows")
    if arr.ndim != 4 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SkeletonError(f"baseline windows: expected a non-empty (N, f, 20, 3) array of canonical skeletons, "
                            f"got shape {arr.shape}; stack the windows first")
    if not np.isfinite(arr).all():
        raise SkeletonError("baseline windows hold NaN/inf joints; fill or drop frames with missing joints "
                            "before making windows")
    return arr


def bone_length_features(windows: np.ndarray, bones: Sequence[tuple[int, int]] = SHAPE_BONES) -> np.ndarray:
    """Median bone lengths over each window.

    Args:
        windows: (N, f, 20, 3) canonical Kinect v1 skeletons in metres (centred or not: lengths do not care).
        bones: (parent, child) canonical joint pairs; the default leaves out the stand-in bones.
    Returns:
        (N, B) float32 lengths in metres, in the order of `bones`.
    Raises:
        SkeletonError: wrong shape, NaN/inf joints, or a bone index outside 0..19.
    """
    arr = _check_windows(windows)  # (N, f, 20, 3)
    pairs = np.asarray(bones, dtype=np.int64).reshape(-1, 2)  # (B, 2)
    if pairs.size == 0 or pairs.min() < 0 or pairs.max() >= len(CANONICAL_JOINTS):
        raise SkeletonError(f"bones must be non-empty (parent, child) pairs of joint indices 0..19, got {bones!r}")
    lengths = np.linalg.norm(arr[:, :, pairs[:, 1]] - arr[:, :, pairs[:, 0]], axis=-1)  # (N, f, B)
    return np.median(lengths, axis=1).astype(np.float32)


def centred_pose_features(windows: np.ndarray) -> np.ndarray:
    """Root-centred joint coordinates of every frame, flattened.

    Args:
        windows: (N, f, 20, 3) canonical Kinect v1 skeletons in metres.
    Returns:
        (N, f * 60) float32 coordinates in metres relative to HipCenter, frame-major then joint then x, y, z.
    Raises:
        SkeletonError: wrong shape or NaN/inf joints.
    """
    arr = _check_windows(windows)
    return root_centre(arr).reshape(len(arr), -1)


Baseline = Callable[[np.ndarray], np.ndarray]
BASELINES: Mapping[str, Baseline] = MappingProxyType({
    "bone_length": bone_length_features,
    "centred_pose": centred_pose_features,
})


def get_baseline(name: str) -> Baseline:
    """Look a baseline feature function up by name; the error lists the valid names."""
    try:
        return BASELINES[name]
    except KeyError:
        raise EvaluationError(f"unknown baseline {name!r}; valid baselines: {', '.join(BASELINES)}") from None
