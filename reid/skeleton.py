"""Joint layouts and their mapping into the canonical Kinect v1 20-joint layout the model uses.

Pure functions, no I/O. Each layout lists its joint names in stored order and says, for every canonical joint,
which of its own joints make it (a weighted mean). Joints a layout lacks get an explicit stand-in: the wrist
for a missing hand, the ankle for a missing foot, midpoints for a missing spine (see each layout's rules).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Mapping

import numpy as np

from reid.errors import SkeletonError

CANONICAL_JOINTS: tuple[str, ...] = (
    "HipCenter", "Spine", "ShoulderCenter", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
)
NUM_CANONICAL = len(CANONICAL_JOINTS)
ROOT_JOINT = 0  # HipCenter: every window is centred on it (spec §1.1)

Rule = Mapping[str, float]


@dataclass(frozen=True)
class Layout:
    """A stored joint order and the rule that makes each canonical joint from it.

    `rules[c]` maps source joint names to weights (summing to 1) for canonical joint `c`; a canonical joint
    absent from `rules` has the same name in this layout.
    """

    name: str
    joints: tuple[str, ...]
    rules: Mapping[str, Rule] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @cached_property
    def matrix(self) -> np.ndarray:
        """The (20, V) weight matrix, read-only: canonical = matrix @ source, per coordinate. Built once: pose
        converts every person of every frame."""
        index = {name: i for i, name in enumerate(self.joints)}
        out = np.zeros((NUM_CANONICAL, self.num_joints), dtype=np.float64)
        for c, cname in enumerate(CANONICAL_JOINTS):
            rule = self.rules.get(cname, {cname: 1.0})
            for source, weight in rule.items():
                out[c, index[source]] += weight
        out.flags.writeable = False
        return out


def _mean(*names: str) -> dict[str, float]:
    return {n: 1.0 / len(names) for n in names}


_V2_LIMBS = CANONICAL_JOINTS[4:]  # shoulders to feet share names and order in Kinect v1 and v2

KINECT_V1 = Layout("kinect_v1", CANONICAL_JOINTS, description="Kinect v1 SDK, 20 joints (the canonical layout).")

KINECT_V2 = Layout(
    "kinect_v2",
    ("SpineBase", "SpineMid", "Neck", "Head", *_V2_LIMBS,
     "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight"),
    MappingProxyType({
        "HipCenter": {"SpineBase": 1.0},
        "Spine": {"SpineMid": 1.0},
        # Kinect v1's ShoulderCenter sits between the shoulders, where v2 puts SpineShoulder (Neck is higher).
        "ShoulderCenter": {"SpineShoulder": 1.0},
    }),
    "Kinect v2 SDK, 25 joints; hand tips and thumbs are dropped.",
)

UCALGARY_18 = Layout(
    "ucalgary18",
    ("FootLeft", "AnkleLeft", "KneeLeft", "HipLeft", "FootRight", "AnkleRight", "KneeRight", "HipRight",
     "SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ShoulderRight", "WristLeft", "WristRight",
     "ElbowLeft", "ElbowRight"),
    MappingProxyType({
        "HipCenter": {"SpineBase": 1.0},
        "Spine": {"SpineMid": 1.0},
        "ShoulderCenter": {"Neck": 1.0},  # no SpineShoulder in these files: the neck stands in
        "HandLeft": {"WristLeft": 1.0},  # no hands: the wrist stands in
        "HandRight": {"WristRight": 1.0},
    }),
    "Kinect v2 subset of the UCalgary gait files, 18 joints (no hands, no SpineShoulder).",
)

MEDIAPIPE_33 = Layout(
    "mediapipe33",
    ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
     "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
     "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
     "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
     "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index"),
    MappingProxyType({
        # No spine joints: hip and shoulder midpoints, and the spine halfway between them.
        "HipCenter": _mean("left_hip", "right_hip"),
        "Spine": _mean("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        "ShoulderCenter": _mean("left_shoulder", "right_shoulder"),
        "Head": _mean("left_ear", "right_ear"),  # the ears bracket the head centre; the nose is in front of it
        "ShoulderLeft": {"left_shoulder": 1.0}, "ElbowLeft": {"left_elbow": 1.0},
        "WristLeft": {"left_wrist": 1.0}, "HandLeft": _mean("left_pinky", "left_index", "left_thumb"),
        "ShoulderRight": {"right_shoulder": 1.0}, "ElbowRight": {"right_elbow": 1.0},
        "WristRight": {"right_wrist": 1.0}, "HandRight": _mean("right_pinky", "right_index", "right_thumb"),
        "HipLeft": {"left_hip": 1.0}, "KneeLeft": {"left_knee": 1.0},
        "AnkleLeft": {"left_ankle": 1.0}, "FootLeft": {"left_foot_index": 1.0},
        "HipRight": {"right_hip": 1.0}, "KneeRight": {"right_knee": 1.0},
        "AnkleRight": {"right_ankle": 1.0}, "FootRight": {"right_foot_index": 1.0},
    }),
    "MediaPipe Pose, 33 landmarks.",
)

OPENPOSE_14 = Layout(
    "openpose14",
    ("Head", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
     "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle"),
    MappingProxyType({
        "HipCenter": _mean("RHip", "LHip"),
        "Spine": {"Neck": 0.5, "RHip": 0.25, "LHip": 0.25},  # halfway between neck and hip centre
        "ShoulderCenter": {"Neck": 1.0},
        "Head": {"Head": 1.0},
        "ShoulderLeft": {"LShoulder": 1.0}, "ElbowLeft": {"LElbow": 1.0},
        "WristLeft": {"LWrist": 1.0}, "HandLeft": {"LWrist": 1.0},  # no hands: the wrist stands in
        "ShoulderRight": {"RShoulder": 1.0}, "ElbowRight": {"RElbow": 1.0},
        "WristRight": {"RWrist": 1.0}, "HandRight": {"RWrist": 1.0},
        "HipLeft": {"LHip": 1.0}, "KneeLeft": {"LKnee": 1.0},
        "AnkleLeft": {"LAnkle": 1.0}, "FootLeft": {"LAnkle": 1.0},  # no feet: the ankle stands in
        "HipRight": {"RHip": 1.0}, "KneeRight": {"RKnee": 1.0},
        "AnkleRight": {"RAnkle": 1.0}, "FootRight": {"RAnkle": 1.0},
    }),
    "14-joint OpenPose-style order of the estimated CASIA-B skeletons (head first).",
)

LAYOUTS: Mapping[str, Layout] = MappingProxyType(
    {layout.name: layout for layout in (KINECT_V1, KINECT_V2, UCALGARY_18, MEDIAPIPE_33, OPENPOSE_14)})


def get_layout(name: str) -> Layout:
    """Look a layout up by name; the error lists the valid names."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise SkeletonError(f"unknown joint layout {name!r}; valid layouts: {', '.join(LAYOUTS)}") from None


def check_joints(joints: np.ndarray, layout: Layout, source: str = "input") -> np.ndarray:
    """Check that `joints` is (..., V, 3) for this layout and return it as float32.

    Raises:
        SkeletonError: naming `source`, the shape found and the shape expected.
    """
    arr = np.asarray(joints)
    if arr.ndim < 2 or arr.shape[-2:] != (layout.num_joints, 3):
        raise SkeletonError(
            f"{source}: expected joints of shape (..., {layout.num_joints}, 3) for layout {layout.name!r}, "
            f"got {arr.shape}; pick the layout that matches the data (valid: {', '.join(LAYOUTS)})")
    return arr.astype(np.float32, copy=False)


def to_canonical(joints: np.ndarray, layout: Layout | str, source: str = "input") -> np.ndarray:
    """Map (..., V, 3) joints of `layout` to (..., 20, 3) canonical joints. NaN in a source joint stays NaN."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    arr = check_joints(joints, layout, source)
    if layout is KINECT_V1:
        return arr.copy()
    return np.einsum("cv,...vd->...cd", layout.matrix.astype(np.float32), arr)


def confidence_to_canonical(confidence: np.ndarray, layout: Layout | str) -> np.ndarray:
    """Map (..., V) per-joint confidence to (..., 20): a made joint is as sure as its least sure source."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    conf = np.asarray(confidence, dtype=np.float32)
    used = layout.matrix > 0  # (20, V)
    masked = np.where(used, conf[..., None, :], np.inf)  # (..., 20, V)
    return masked.min(axis=-1)


def root_centre(joints: np.ndarray, root: int = ROOT_JOINT) -> np.ndarray:
    """Subtract the root joint from every joint, per frame (spec §1.1): (..., V, 3) -> (..., V, 3)."""
    arr = np.asarray(joints, dtype=np.float32)
    return arr - arr[..., root : root + 1, :]
