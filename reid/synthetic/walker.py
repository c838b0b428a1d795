"""Kinematics of one walker: joint positions of a straight walk in the canonical 20-joint layout.

The stance leg's foot-to-hip reach shrinks linearly, so the stance foot stays planted while the pelvis moves at
constant speed; the swing leg follows a half cosine with knee flexion; the pelvis height is set every frame so
the lowest foot touches the floor (the vertical bob of an inverted pendulum); arms counter-swing and the pelvis
and chest counter-rotate.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reid.errors import DatasetError
from reid.skeleton import NUM_CANONICAL
from reid.synthetic.body import ANKLE_HEIGHT_M, STANCE_DUTY, BodyParams, gait_speed, hip_sin_amplitude

UP = np.array([0.0, 1.0, 0.0])
# Indices into the canonical layout (reid.skeleton.CANONICAL_JOINTS).
(HIP_C, SPINE, SHOULDER_C, HEAD, SHOULDER_L, ELBOW_L, WRIST_L, HAND_L, SHOULDER_R, ELBOW_R, WRIST_R, HAND_R,
 HIP_L, KNEE_L, ANKLE_L, FOOT_L, HIP_R, KNEE_R, ANKLE_R, FOOT_R) = range(NUM_CANONICAL)
EXTREMITIES = (HAND_L, HAND_R, FOOT_L, FOOT_R, WRIST_L, WRIST_R)  # the joints a depth tracker jitters most


def _hip_profile(p: np.ndarray) -> np.ndarray:
    """sin(hip angle) / sin(amplitude) over the stride phase p in [0, 1): +1 at heel strike.

    Linear in stance (a planted foot under a pelvis at constant speed), a half cosine in swing.
    """
    stance = p < STANCE_DUTY
    swing_phase = (p - STANCE_DUTY) / (1.0 - STANCE_DUTY)
    return np.where(stance, 1.0 - 2.0 * p / STANCE_DUTY, -np.cos(np.pi * swing_phase))


def _knee_profile(p: np.ndarray, swing_rad: float) -> np.ndarray:
    """Knee flexion (rad) over the stride phase p: a loading bump early in stance (~17 deg at 15%), nearly
    straight at late stance, a large bend at ~72% for foot clearance. Periodic Gaussian bumps keep it smooth
    across heel strike (a piecewise curve gave jumps there)."""
    def bump(centre: float, width: float) -> np.ndarray:
        d = (p - centre + 0.5) % 1.0 - 0.5
        return np.exp(-0.5 * (d / width) ** 2)
    return 0.05 + 0.25 * bump(0.15, 0.07) + swing_rad * bump(0.72, 0.11)


def _hip_angle(reach: np.ndarray, thigh: float, shank: float, kappa: np.ndarray) -> np.ndarray:
    """Hip flexion (T,) that puts the ankle `reach` metres ahead of the hip despite knee flexion `kappa`.

    Newton steps on thigh sin(t) + shank sin(t - kappa) = reach; without this the bent stance knee would make
    the planted foot slide.
    """
    theta = np.arcsin(np.clip(reach / (thigh + shank), -0.95, 0.95))
    for _ in range(6):
        value = thigh * np.sin(theta) + shank * np.sin(theta - kappa) - reach
        slope = thigh * np.cos(theta) + shank * np.cos(theta - kappa)
        theta = np.clip(theta - value / slope, -1.2, 1.2)
    return theta


def _sagittal(angle: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Unit vectors at `angle` (T,) from straight down towards `forward` (T, 3) or (3,): (T, 3)."""
    a = angle[:, None]
    return -UP * np.cos(a) + forward * np.sin(a)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """(T, 3) rows scaled to length 1 (the rotated chest axis is not orthogonal to the sagittal plane)."""
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _rotate_lateral(right: np.ndarray, forward: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """`right` turned by `yaw` (T,) about the vertical; positive yaw brings the left side forward."""
    return right * np.cos(yaw)[:, None] - forward * np.sin(yaw)[:, None]


class _Pose(NamedTuple):
    """Per-sequence quantities shared by the leg and arm kinematics."""

    fwd: np.ndarray  # (3,) walking direction
    right: np.ndarray  # (3,) the walker's right: forward x up in the right-handed Kinect frame
    phase_l: np.ndarray  # (T,) left stride phase in [0, 1); the right leg is half a stride later
    phase_r: np.ndarray
    scale: float  # body height / 1.75 m, for small fixed offsets


def _place_legs(joints: np.ndarray, params: BodyParams, pose: _Pose, sin_amp: float) -> None:
    """Fill hips, knees, ankles and feet of (T, 20, 3) `joints` relative to the HipCenter already in it."""
    prof_l, prof_r = _hip_profile(pose.phase_l), _hip_profile(pose.phase_r)
    right_pelvis = _rotate_lateral(pose.right, pose.fwd, params.pelvis_yaw_rad * (prof_l - prof_r) / 2.0)
    thigh = params.leg_length_m * params.thigh_frac
    shank = params.leg_length_m - thigh
    legs = ((HIP_L, KNEE_L, ANKLE_L, FOOT_L, pose.phase_l, prof_l, -1.0, 1.0),
            (HIP_R, KNEE_R, ANKLE_R, FOOT_R, pose.phase_r, prof_r, 1.0, 1.0 + params.asymmetry))
    for hip, knee, ankle, foot, phase, prof, side, amp in legs:
        kappa = _knee_profile(phase, params.knee_swing_rad * amp)
        theta = _hip_angle(params.leg_length_m * sin_amp * amp * prof, thigh, shank, kappa)  # (T,)
        joints[:, hip] = (joints[:, HIP_C] - UP * 0.05 * pose.scale
                          + side * params.hip_width_m / 2.0 * right_pelvis)
        joints[:, knee] = joints[:, hip] + thigh * _sagittal(theta, pose.fwd)
        joints[:, ankle] = joints[:, knee] + shank * _sagittal(theta - kappa, pose.fwd)
        toe_dir = pose.fwd * np.cos(params.toe_out_rad) + side * pose.right * np.sin(params.toe_out_rad)
        foot_angle = np.pi / 2 - 0.15 + 0.45 * (theta - kappa)  # toes down at push-off, up at heel strike
        joints[:, foot] = joints[:, ankle] + 0.145 * pose.scale * _sagittal(foot_angle, toe_dir)


def _place_upper_body(joints: np.ndarray, params: BodyParams, pose: _Pose, lean: float, arm_swing: float) -> None:
    """Fill spine, head, shoulders and arms of (T, 20, 3) `joints` from the HipCenter already in it."""
    prof_l, prof_r = _hip_profile(pose.phase_l), _hip_profile(pose.phase_r)
    # The chest counter-rotates against the pelvis.
    right_chest = _rotate_lateral(pose.right, pose.fwd, -0.8 * params.pelvis_yaw_rad * (prof_l - prof_r) / 2.0)
    torso = params.torso_frac * params.height_m
    lean_t = lean + 0.02 * np.cos(4.0 * np.pi * pose.phase_l)  # the trunk pitches twice per stride
    trunk = _sagittal(np.pi - lean_t, pose.fwd)  # up, tilted forward by the lean
    joints[:, SPINE] = joints[:, HIP_C] + 0.45 * torso * trunk
    joints[:, SHOULDER_C] = joints[:, HIP_C] + torso * trunk
    joints[:, HEAD] = joints[:, SHOULDER_C] + params.head_frac * params.height_m * _sagittal(
        np.pi - lean_t - params.head_forward_rad, pose.fwd)
    arms = ((SHOULDER_L, ELBOW_L, WRIST_L, HAND_L, pose.phase_l, -1.0, 1.0),
            (SHOULDER_R, ELBOW_R, WRIST_R, HAND_R, pose.phase_r, 1.0, 1.0 + params.asymmetry))
    abduction = params.arm_abduction_rad
    for shoulder, elbow, wrist, hand, phase, side, amp in arms:
        # An arm swings forward while its own leg swings back, i.e. with the opposite leg.
        alpha = 0.05 - arm_swing * amp * np.cos(2.0 * np.pi * phase)
        bend = params.elbow_flex_rad * (1.0 + 0.6 * np.clip(alpha / max(arm_swing, 1e-3), -1.0, 1.0))
        outward = side * right_chest * np.sin(abduction)
        joints[:, shoulder] = (joints[:, SHOULDER_C] - UP * 0.04 * pose.scale
                               + side * params.shoulder_width_m / 2.0 * right_chest)
        upper_dir = _unit(_sagittal(alpha, pose.fwd) * np.cos(abduction) + outward)
        fore_dir = _unit(_sagittal(alpha + bend, pose.fwd) * np.cos(abduction) + outward)
        joints[:, elbow] = joints[:, shoulder] + params.upper_arm_frac * params.height_m * upper_dir
        joints[:, wrist] = joints[:, elbow] + params.forearm_frac * params.height_m * fore_dir
        joints[:, hand] = joints[:, wrist] + 0.07 * pose.scale * fore_dir


def walk(params: BodyParams, seconds: float, fps: float, start_xyz: tuple[float, float, float],
         heading_rad: float, rng: np.random.Generator) -> np.ndarray:
    """Joint positions of one straight walk, without sensor noise.

    Args:
        params: the identity.
        seconds: duration; the walk has round(seconds * fps) frames.
        fps: frames per second.
        start_xyz: the floor point under the HipCenter at t = 0 (its y is the floor height, e.g.
            -DEFAULT_CAMERA_HEIGHT_M), camera frame metres.
        heading_rad: walking direction from +z towards +x (module docstring).
        rng: draws this sequence's gait phase and small per-sequence variation.
    Returns:
        (T, 20, 3) float32 canonical joints, camera frame metres.
    Raises:
        DatasetError: for a duration shorter than one frame or a non-positive fps.
    """
    frames = int(round(seconds * fps))
    if fps <= 0 or frames < 1:
        raise DatasetError(f"synthetic walk: seconds={seconds}, fps={fps} gives no frame; use fps > 0 and "
                           f"seconds >= 1/fps")
    # Per-sequence variation of one person's gait.
    step_scale = float(rng.normal(1.0, 0.04))
    cadence = params.cadence_hz * float(rng.normal(1.0, 0.03))
    arm_swing = params.arm_swing_rad * float(rng.normal(1.0, 0.12))
    lean = params.lean_rad + float(rng.normal(0.0, 0.015))
    phase0 = float(rng.uniform(0.0, 1.0))

    t = np.arange(frames) / fps
    phase_l = (t * cadence / 2.0 + phase0) % 1.0
    fwd = np.array([np.sin(heading_rad), 0.0, np.cos(heading_rad)])
    pose = _Pose(fwd, np.cross(fwd, UP), phase_l, (phase_l + 0.5) % 1.0, params.height_m / 1.75)
    joints = np.zeros((frames, NUM_CANONICAL, 3))
    # The pelvis sways towards the stance leg; heights are relative to it until the feet meet the floor.
    joints[:, HIP_C] = pose.right * (-params.sway_m * np.cos(2.0 * np.pi * (phase_l - 0.3)))[:, None]
    sin_amp = hip_sin_amplitude(params, step_scale)
    _place_legs(joints, params, pose, sin_amp)
    _place_upper_body(joints, params, pose, lean, arm_swing)
    lowest = np.minimum.reduce([joints[:, ANKLE_L, 1] - ANKLE_HEIGHT_M, joints[:, ANKLE_R, 1] - ANKLE_HEIGHT_M,
                                joints[:, FOOT_L, 1] - 0.02, joints[:, FOOT_R, 1] - 0.02])
    joints[..., 1] -= lowest[:, None]
    travel = np.asarray(start_xyz, dtype=np.float64) + fwd * (gait_speed(params, sin_amp, cadence) * t)[:, None]
    joints += travel[:, None, :]
    return joints.astype(np.float32)
