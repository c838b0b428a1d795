"""Synthetic identities: body proportions and gait parameters, and the limp that changes only the gait."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from reid.errors import DatasetError

DEFAULT_CAMERA_HEIGHT_M = 1.0
STANCE_DUTY = 0.6  # fraction of a stride each foot is on the floor
ANKLE_HEIGHT_M = 0.07  # ankle joint above the floor with the foot flat


@dataclass(frozen=True)
class BodyParams:
    """One synthetic identity: body proportions (metres, fractions of height) and gait (Hz, radians)."""

    identity: str
    height_m: float
    leg_frac: float  # hip joint height / body height
    thigh_frac: float  # thigh / (thigh + shank)
    torso_frac: float  # HipCenter -> ShoulderCenter / height
    head_frac: float  # ShoulderCenter -> Head / height
    upper_arm_frac: float
    forearm_frac: float
    shoulder_width_m: float
    hip_width_m: float
    cadence_hz: float  # steps per second
    step_frac: float  # step length / leg length
    arm_swing_rad: float
    elbow_flex_rad: float
    arm_abduction_rad: float
    knee_swing_rad: float  # peak knee flexion in swing
    lean_rad: float  # forward trunk lean
    head_forward_rad: float
    asymmetry: float  # right-side gait amplitudes scale by (1 + asymmetry)
    sway_m: float  # lateral pelvis sway amplitude
    pelvis_yaw_rad: float
    toe_out_rad: float

    @property
    def leg_length_m(self) -> float:
        """Hip joint to ankle joint with the leg straight."""
        return self.leg_frac * self.height_m - ANKLE_HEIGHT_M

    @property
    def speed_mps(self) -> float:
        """Nominal walking speed (before per-sequence variation)."""
        return gait_speed(self, hip_sin_amplitude(self, 1.0), self.cadence_hz)


def make_identities(n: int, seed: int = 0) -> list[BodyParams]:
    """Draw `n` distinct identities ("syn000", ...) deterministically from `seed`.

    Ranges follow adult anthropometry and gait studies (height 1.50-1.95 m, cadence 1.6-2.1 steps/s).
    Raises:
        DatasetError: when `n` < 1.
    """
    if n < 1:
        raise DatasetError(f"synthetic identities: n={n}; ask for at least 1")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        height = float(np.clip(rng.normal(1.72, 0.10), 1.50, 1.95))
        out.append(BodyParams(
            identity=f"syn{i:03d}",
            height_m=height,
            leg_frac=float(rng.normal(0.50, 0.015)),
            thigh_frac=float(rng.normal(0.51, 0.02)),
            torso_frac=float(rng.normal(0.30, 0.012)),
            head_frac=float(rng.normal(0.13, 0.008)),
            upper_arm_frac=float(rng.normal(0.185, 0.008)),
            forearm_frac=float(rng.normal(0.15, 0.007)),
            shoulder_width_m=float(height * rng.normal(0.215, 0.012)),
            hip_width_m=float(height * rng.normal(0.11, 0.01)),
            cadence_hz=float(rng.uniform(1.65, 2.05)),
            step_frac=float(rng.uniform(0.70, 0.88)),
            arm_swing_rad=float(rng.uniform(0.15, 0.50)),
            elbow_flex_rad=float(rng.uniform(0.15, 0.45)),
            arm_abduction_rad=float(rng.uniform(0.05, 0.20)),
            knee_swing_rad=float(rng.uniform(0.95, 1.15)),
            lean_rad=float(rng.uniform(-0.02, 0.14)),
            head_forward_rad=float(rng.uniform(0.0, 0.25)),
            asymmetry=float(rng.normal(0.0, 0.08)),
            sway_m=float(rng.uniform(0.015, 0.04)),
            pelvis_yaw_rad=float(rng.uniform(0.04, 0.12)),
            toe_out_rad=float(rng.uniform(0.0, 0.25)),
        ))
    return out


def gait_speed(params: BodyParams, sin_amp: float, cadence_hz: float) -> float:
    """Speed (m/s) at which the stance foot stays planted: it sweeps 2 L sin(A) in one stance phase."""
    stride_s = 2.0 / cadence_hz
    return 2.0 * params.leg_length_m * sin_amp / (STANCE_DUTY * stride_s)


def hip_sin_amplitude(params: BodyParams, step_scale: float) -> float:
    """sin of the hip flexion amplitude A for the identity's step length.

    The pelvis covers one step in half a stride while the stance foot sweeps 2 L sin(A) in STANCE_DUTY of a
    stride, so step = L sin(A) / STANCE_DUTY.
    """
    step = params.step_frac * params.leg_length_m * step_scale
    return float(min(0.75, step * STANCE_DUTY / params.leg_length_m))


def limping(params: BodyParams, side: str = "right", severity: float = 0.4) -> BodyParams:
    """The same body with a simulated limp: a shorter, stiffer swing on `side` and a slower cadence.

    Like the UCalgary runs 3-6, the person is unchanged and only the gait differs, which makes a harder
    "changed condition" probe. `severity` scales that side's hip, knee and arm amplitudes down by up to 40%.
    Raises:
        DatasetError: a side other than "left"/"right" or a severity outside [0, 0.8].
    """
    if side not in ("left", "right") or not 0.0 <= severity <= 0.8:
        raise DatasetError(f"synthetic limp: side={side!r}, severity={severity}; use side 'left' or 'right' and "
                           f"severity in [0, 0.8]")
    # `asymmetry` scales the right side by (1 + asymmetry); a left limp shrinks the left side instead, which
    # keeps the same left/right ratio relative to the right.
    shift = -severity if side == "right" else severity / (1.0 - severity)
    return replace(params, asymmetry=(1.0 + params.asymmetry) * (1.0 + shift) - 1.0,
                   cadence_hz=params.cadence_hz * (1.0 - severity / 4.0))
