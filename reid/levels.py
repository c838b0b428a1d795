"""The joint -> component -> limb hierarchy of spec §1.2: each higher node is the mean of its joints."""
from __future__ import annotations

import numpy as np
import torch

from reid.errors import SkeletonError

# Groups per joint count, in the node order of spec §1.2 (20: Kinect v1, 25: Kinect v2, 14: CASIA-B).
COMPONENTS: dict[int, tuple[tuple[int, ...], ...]] = {
    20: ((12, 13), (14, 15), (16, 17), (18, 19), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    25: ((12, 13), (14, 15), (16, 17), (18, 19), (0, 1), (2, 3, 20), (4, 5), (6, 7, 21, 22), (8, 9),
         (10, 11, 23, 24)),
    14: ((11,), (12, 13), (8,), (9, 10), (1,), (0,), (5,), (6, 7), (2,), (3, 4)),
}
LIMBS: dict[int, tuple[tuple[int, ...], ...]] = {
    20: ((12, 13, 14, 15), (16, 17, 18, 19), (0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)),
    25: ((12, 13, 14, 15), (16, 17, 18, 19), (0, 1, 2, 3, 20), (4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24)),
    14: ((11, 12, 13), (8, 9, 10), (0, 1), (5, 6, 7), (2, 3, 4)),
}
COMPONENT_NAMES = ("left_leg_up", "left_leg_down", "right_leg_up", "right_leg_down", "torso", "head",
                   "left_arm_up", "left_arm_down", "right_arm_up", "right_arm_down")
LIMB_NAMES = ("left_leg", "right_leg", "torso", "left_arm", "right_arm")
LEVELS = ("joint", "component", "limb")


def supported_joint_counts() -> tuple[int, ...]:
    return tuple(sorted(COMPONENTS))


def pooling_matrix(groups: tuple[tuple[int, ...], ...], num_joints: int) -> np.ndarray:
    """(G, V) matrix whose row g averages the joints of group g."""
    out = np.zeros((len(groups), num_joints), dtype=np.float32)
    for g, members in enumerate(groups):
        out[g, list(members)] = 1.0 / len(members)
    return out


def level_matrices(num_joints: int) -> dict[str, np.ndarray]:
    """The pooling matrices that turn V joints into each level's nodes (the joint level is the identity)."""
    if num_joints not in COMPONENTS:
        raise SkeletonError(f"no joint hierarchy for {num_joints} joints; supported: {supported_joint_counts()}")
    return {
        "joint": np.eye(num_joints, dtype=np.float32),
        "component": pooling_matrix(COMPONENTS[num_joints], num_joints),
        "limb": pooling_matrix(LIMBS[num_joints], num_joints),
    }


def build_levels(joints: torch.Tensor, matrices: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """(..., V, 3) joints -> {level: (..., V_level, 3)} node coordinates."""
    return {level: torch.matmul(m, joints) for level, m in matrices.items()}  # (G, V) @ (..., V, 3)
