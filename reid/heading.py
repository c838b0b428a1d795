"""View normalisation: turn every window about the vertical so the person faces one fixed direction.

Why: Hi-MPC encodes raw root-centred coordinates (spec §1.1), so the same person walking towards the camera
and walking across it gives two unrelated inputs, and unsupervised clustering then groups windows by heading
instead of by person. A camera watching a corridor or a door sees people at every heading. Turning each window
so its lateral axis (the person's left-to-right, from hips and shoulders) lies along +x removes the heading and
keeps everything else: body proportions, posture and the motion inside the window (one rotation per window,
not per frame). The official code has no such step; `model.align_heading: false` reproduces it.

Coordinates are the model frame of `capture.buffer` and the Kinect SDKs: y up, so the turn is about y.
"""
from __future__ import annotations

import torch
from torch import Tensor

from reid.errors import SkeletonError

# (left joints, right joints) whose left-to-right differences give the lateral axis, per joint count:
# the shoulders and hips (spec §1.2 joint orders). Knees, feet and hands swing along the walking direction and
# would turn the axis with the gait phase.
LATERAL_JOINTS: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {
    20: ((4, 12), (8, 16)),   # ShoulderLeft, HipLeft -> ShoulderRight, HipRight
    25: ((4, 12), (8, 16)),
    14: ((5, 11), (2, 8)),    # LShoulder, LHip -> RShoulder, RHip (spec §1.2 14-joint order)
}


def align_heading(windows: Tensor) -> Tensor:
    """(B, f, V, 3) root-centred windows turned about y so each window's mean lateral axis points along +x.

    A window whose lateral axis has no horizontal extent (a degenerate skeleton) is left as it is.
    Raises:
        SkeletonError: a joint count with no known shoulders and hips.
    """
    num_joints = windows.shape[-2]
    if num_joints not in LATERAL_JOINTS:
        raise SkeletonError(f"heading alignment needs shoulders and hips; no table for {num_joints} joints "
                            f"(supported: {sorted(LATERAL_JOINTS)}); set model.align_heading=false")
    (shoulder_l, hip_l), (shoulder_r, hip_r) = LATERAL_JOINTS[num_joints]
    # Single-joint slices, not a fancy-index gather: 4x faster, and this runs on every encoded batch.
    lateral = (windows[:, :, shoulder_r] + windows[:, :, hip_r]
               - windows[:, :, shoulder_l] - windows[:, :, hip_l]).mean(dim=1)  # (B, 3)
    norm = torch.hypot(lateral[:, 0], lateral[:, 2]).clamp_min(1e-9)
    cos = (lateral[:, 0] / norm)[:, None, None]
    sin = (lateral[:, 2] / norm)[:, None, None]
    degenerate = (norm <= 1e-9)[:, None, None]
    cos = torch.where(degenerate, torch.ones_like(cos), cos)
    sin = torch.where(degenerate, torch.zeros_like(sin), sin)
    # Turning by -atan2(sin, cos) maps the lateral axis (cos, sin) in the x-z plane onto (1, 0):
    # x' = cos x + sin z, z' = cos z - sin x. Written straight into the output (no temporaries, no stack): this
    # runs on every encoded batch.
    x, y, z = windows.unbind(dim=-1)
    out = torch.empty_like(windows)
    out_x, out_y, out_z = out.unbind(dim=-1)
    torch.mul(x, cos, out=out_x).addcmul_(z, sin)
    out_y.copy_(y)
    torch.mul(z, cos, out=out_z).addcmul_(x, sin, value=-1.0)
    return out
