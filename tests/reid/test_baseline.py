"""reid.baseline: bone lengths and centred poses of hand-made skeletons, and retrieval with them."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import SkelwatchError
from reid.baseline import (BASELINES, BONES, SHAPE_BONES, STAND_IN_BONES, bone_length_features,
                           centred_pose_features, get_baseline)
from reid.errors import SkeletonError
from reid.evaluate import evaluate
from reid.skeleton import CANONICAL_JOINTS, LAYOUTS, UCALGARY_18, to_canonical

# A hand-made standing body: each joint's offset (metres) from its parent in BONES order. Every offset is an
# axis-aligned or 3-4-5 vector, so its length is known exactly (listed on the right).
_OFFSETS = {
    1: (0.0, 0.25, 0.0),  # spine 0.25
    2: (0.0, 0.30, 0.0),  # 0.30
    3: (0.0, 0.20, 0.0),  # neck-head 0.20
    4: (-0.18, 0.0, 0.0), 5: (0.0, -0.27, 0.0), 6: (0.0, -0.24, 0.0), 7: (0.0, -0.08, 0.0),  # 0.18 .27 .24 .08
    8: (0.18, 0.0, 0.0), 9: (0.0, -0.27, 0.0), 10: (0.0, -0.24, 0.0), 11: (0.0, -0.08, 0.0),
    12: (-0.09, -0.12, 0.0), 13: (0.0, -0.42, 0.0), 14: (0.0, -0.40, 0.0), 15: (0.0, 0.0, 0.12),  # .15 .42 .40 .12
    16: (0.09, -0.12, 0.0), 17: (0.0, -0.42, 0.0), 18: (0.0, -0.40, 0.0), 19: (0.0, 0.0, 0.12),
}
_LENGTHS = {(p, c): float(np.linalg.norm(_OFFSETS[c])) for p, c in BONES}


def _body(scale: float = 1.0, root=(0.0, 0.9, 3.0)) -> np.ndarray:
    """(20, 3) joints of the hand-made body, limbs scaled by `scale`, HipCenter at `root` (camera metres)."""
    joints = np.zeros((20, 3))
    joints[0] = root
    for parent, child in BONES:  # parents come before children in BONES
        joints[child] = joints[parent] + scale * np.asarray(_OFFSETS[child])
    return joints


def _rotate_y(joints: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    root = joints[0]
    return (joints - root) @ rot.T + root


def test_bone_lengths_of_a_hand_made_body():
    # 5 frames: the body walks and turns (rigid motion keeps every length), window shape (1, 5, 20, 3).
    frames = [_rotate_y(_body(root=(0.1 * t, 0.9, 3.0 - 0.3 * t)), 0.4 * t) for t in range(5)]
    feats = bone_length_features(np.stack(frames)[None])
    assert feats.shape == (1, 15) and feats.dtype == np.float32
    assert feats[0] == pytest.approx([_LENGTHS[b] for b in SHAPE_BONES], abs=1e-6)
    assert feats[0, 0] == pytest.approx(0.25) and feats[0, SHAPE_BONES.index((0, 12))] == pytest.approx(0.15)
    full = bone_length_features(np.stack(frames)[None], bones=BONES)
    assert full[0, BONES.index((6, 7))] == pytest.approx(0.08)


def test_bone_length_is_the_median_over_frames():
    # The spine (0-1) measures 0.25 in two frames and 0.60 in one jittery frame: the median keeps 0.25.
    frames = np.stack([_body(), _body(), _body()])
    frames[1, 1] = frames[1, 0] + (0.0, 0.60, 0.0)
    feats = bone_length_features(frames[None], bones=[(0, 1), (1, 2)])
    assert feats[0, 0] == pytest.approx(0.25)
    assert feats[0, 1] == pytest.approx(0.30)  # 0.30 in frames 0 and 2, |0.55 - 0.60| = 0.05 in 1


def test_stand_in_bones_are_exactly_those_some_layout_collapses():
    collapsed = set()
    for layout in LAYOUTS.values():
        rows = layout.matrix
        collapsed |= {b for b in BONES if np.array_equal(rows[b[0]], rows[b[1]])}
    assert collapsed == set(STAND_IN_BONES)
    assert set(SHAPE_BONES) == set(BONES) - collapsed and len(SHAPE_BONES) == 15


def test_same_body_from_a_layout_without_hands_gives_the_same_features():
    body = _body()
    names = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
    alias = {"SpineBase": "HipCenter", "SpineMid": "Spine", "Neck": "ShoulderCenter"}
    ucalgary = np.stack([body[names[alias.get(j, j)]] for j in UCALGARY_18.joints])  # (18, 3), no hands
    canonical = to_canonical(ucalgary, UCALGARY_18)  # hands stand in at the wrists
    v1 = bone_length_features(np.repeat(body[None, None], 3, axis=1))
    v2 = bone_length_features(np.repeat(canonical[None, None], 3, axis=1))
    assert np.abs(v2).min() > 0.1  # no zero-length stand-in bone in the default feature
    assert v2 == pytest.approx(v1, abs=1e-6)


def test_centred_pose_features():
    window = np.stack([_body(root=(0.2 * t, 0.9, 3.0)) for t in range(4)])  # (4, 20, 3) walking sideways
    feats = centred_pose_features(window[None])  # (1, 240)
    assert feats.shape == (1, 4 * 20 * 3) and feats.dtype == np.float32
    per_frame = feats.reshape(4, 20, 3)
    assert per_frame[:, 0] == pytest.approx(np.zeros((4, 3)))  # HipCenter at the origin
    assert per_frame[2, 3] == pytest.approx([0.0, 0.75, 0.0])  # head 0.25 + 0.30 + 0.20 above the hips
    moved = centred_pose_features(window[None] + np.array([1.0, -0.5, 2.0]))
    assert moved == pytest.approx(feats, abs=1e-6)


def test_nearest_neighbour_on_bone_lengths_separates_body_sizes():
    rng = np.random.default_rng(0)
    scales = np.array([0.85, 0.95, 1.05, 1.15])  # four people of different sizes
    windows, ids = [], []
    for person, scale in enumerate(scales):
        for _ in range(6):
            frames = np.stack([_rotate_y(_body(scale, root=(rng.uniform(-1, 1), 0.9, rng.uniform(2, 4))),
                                         rng.uniform(-0.5, 0.5)) for _ in range(6)])
            windows.append(frames + rng.normal(0.0, 0.005, frames.shape))  # 5 mm joint noise
            ids.append(person)
    windows, ids = np.stack(windows), np.array(ids)
    probe, gallery = slice(0, None, 2), slice(1, None, 2)
    bones = get_baseline("bone_length")(windows)
    m = evaluate(bones[probe], ids[probe], bones[gallery], ids[gallery])
    assert m.rank1 == pytest.approx(100.0) and m.mAP == pytest.approx(100.0)
    # The raw pose mixes body size with where each frame stands and turns: clearly worse here.
    poses = BASELINES["centred_pose"](windows)
    assert evaluate(poses[probe], ids[probe], poses[gallery], ids[gallery]).mAP < m.mAP


@pytest.mark.parametrize("windows, match", [
    (np.zeros((2, 6, 18, 3)), "20, 3"),
    (np.zeros((6, 20, 3)), r"\(N, f, 20, 3\)"),
    (np.zeros((0, 6, 20, 3)), "non-empty"),
    (np.full((1, 6, 20, 3), np.nan), "NaN"),
])
@pytest.mark.parametrize("name", ["bone_length", "centred_pose"])
def test_bad_windows_are_explained(windows, match, name):
    with pytest.raises(SkeletonError, match=match):
        BASELINES[name](windows)


def test_bad_bones_and_names_are_explained():
    with pytest.raises(SkeletonError, match="0..19"):
        bone_length_features(np.zeros((1, 2, 20, 3)), bones=[(0, 20)])
    with pytest.raises(SkelwatchError, match="bone_length, centred_pose"):
        get_baseline("pca")
