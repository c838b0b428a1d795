"""Labelled synthetic walkers in the canonical Kinect v1 20-joint layout, for tests, benchmarks and scenes.

Camera frame (documented choice): x to the camera's right, y up, z forward along the optical axis, metres.
The camera is `camera_height_m` (default 1.0 m) above a level floor, so the floor is the plane
y = -camera_height_m. A heading is the walking direction on the floor, measured from +z towards +x:
0 walks straight away from the camera, pi straight towards it, +-pi/2 across the view.

The walker is kinematic, not a physics model: the stance leg's foot-to-hip distance shrinks linearly, so the
stance foot stays planted while the pelvis moves at constant speed; the swing leg follows a half cosine with
knee flexion; the pelvis height is set every frame so the lowest foot touches the floor (which gives the
vertical bob of an inverted pendulum); arms counter-swing, the pelvis and shoulders counter-rotate. Identities
differ in body proportions and in gait; sequences of one identity vary a little in speed, arm swing and lean.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets.repair import repair_sequence
from reid.errors import DatasetError
from reid.skeleton import NUM_CANONICAL

logger = logging.getLogger(__name__)

DEFAULT_CAMERA_HEIGHT_M = 1.0
STANCE_DUTY = 0.6  # fraction of a stride each foot is on the floor
ANKLE_HEIGHT_M = 0.07  # ankle joint above the floor with the foot flat
UP = np.array([0.0, 1.0, 0.0])
# Indices into the canonical layout (reid.skeleton.CANONICAL_JOINTS).
(HIP_C, SPINE, SHOULDER_C, HEAD, SHOULDER_L, ELBOW_L, WRIST_L, HAND_L, SHOULDER_R, ELBOW_R, WRIST_R, HAND_R,
 HIP_L, KNEE_L, ANKLE_L, FOOT_L, HIP_R, KNEE_R, ANKLE_R, FOOT_R) = range(NUM_CANONICAL)
_EXTREMITIES = (HAND_L, HAND_R, FOOT_L, FOOT_R, WRIST_L, WRIST_R)  # the joints a depth tracker jitters most


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
        return _speed(self, _hip_sin_amplitude(self, 1.0), self.cadence_hz)


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
            elbow_flex_rad=float(rng.uniform(0.15, 0.55)),
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


def _speed(params: BodyParams, sin_amp: float, cadence_hz: float) -> float:
    """Speed (m/s) at which the stance foot stays planted: it sweeps 2 L sin(A) in one stance phase."""
    stride_s = 2.0 / cadence_hz
    return 2.0 * params.leg_length_m * sin_amp / (STANCE_DUTY * stride_s)


def _hip_sin_amplitude(params: BodyParams, step_scale: float) -> float:
    """sin of the hip flexion amplitude A for the identity's step length.

    The pelvis covers one step in half a stride while the stance foot sweeps 2 L sin(A) in STANCE_DUTY of a
    stride, so step = L sin(A) / STANCE_DUTY.
    """
    step = params.step_frac * params.leg_length_m * step_scale
    return float(min(0.75, step * STANCE_DUTY / params.leg_length_m))


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
    right: np.ndarray  # (3,) the walker's right
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
    pose = _Pose(fwd, np.cross(UP, fwd), phase_l, (phase_l + 0.5) % 1.0, params.height_m / 1.75)
    joints = np.zeros((frames, NUM_CANONICAL, 3))
    # The pelvis sways towards the stance leg; heights are relative to it until the feet meet the floor.
    joints[:, HIP_C] = pose.right * (-params.sway_m * np.cos(2.0 * np.pi * (phase_l - 0.3)))[:, None]
    sin_amp = _hip_sin_amplitude(params, step_scale)
    _place_legs(joints, params, pose, sin_amp)
    _place_upper_body(joints, params, pose, lean, arm_swing)
    lowest = np.minimum.reduce([joints[:, ANKLE_L, 1] - ANKLE_HEIGHT_M, joints[:, ANKLE_R, 1] - ANKLE_HEIGHT_M,
                                joints[:, FOOT_L, 1] - 0.02, joints[:, FOOT_R, 1] - 0.02])
    joints[..., 1] -= lowest[:, None]
    travel = np.asarray(start_xyz, dtype=np.float64) + fwd * (_speed(params, sin_amp, cadence) * t)[:, None]
    joints += travel[:, None, :]
    return joints.astype(np.float32)


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
        scale[list(_EXTREMITIES)] = 2.0
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


class SceneTrack(NamedTuple):
    """One person in a synthetic scene: who, the scene frame where they appear, and their joints."""

    identity: str
    start_frame: int
    joints: np.ndarray  # (T, 20, 3) camera frame metres, clean


def _edge_point(rng: np.random.Generator, bounds: tuple[float, float, float, float], edge: int) -> np.ndarray:
    x0, x1, z0, z1 = bounds
    u = rng.uniform(0.1, 0.9)
    return [np.array([x0, z0 + u * (z1 - z0)]), np.array([x1, z0 + u * (z1 - z0)]),
            np.array([x0 + u * (x1 - x0), z0]), np.array([x0 + u * (x1 - x0), z1])][edge]


def scene_tracks(n_people: int, seconds: float, fps: float = 30.0,
                 room: tuple[float, float, float, float] = (-2.0, 2.0, 1.5, 6.0), seed: int = 0, *,
                 camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
                 identities: list[BodyParams] | None = None) -> list[SceneTrack]:
    """People entering the floor area `room`, crossing it in a straight line and leaving.

    Each person enters at a random time in the first 60% of the scene from a random edge and leaves through
    another edge (paths cross). The track ends when the person leaves the room or the scene ends.

    Args:
        n_people: how many people (identities "syn000"... from `seed` unless `identities` is given).
        seconds: scene duration; fps: frames per second.
        room: floor rectangle (x_min, x_max, z_min, z_max) in metres, camera frame.
    Returns:
        SceneTracks sorted by start frame; joints are clean (add_sensor_noise if wanted).
    Raises:
        DatasetError: for a room with no area or too few identities.
    """
    x0, x1, z0, z1 = room
    if x1 <= x0 or z1 <= z0:
        raise DatasetError(f"synthetic scene: room bounds {room} have no area; give (x_min, x_max, z_min, z_max)")
    people = identities if identities is not None else make_identities(n_people, seed)
    if len(people) < n_people:
        raise DatasetError(f"synthetic scene: {n_people} people asked but {len(people)} identities given")
    rng = np.random.default_rng([seed, 2])
    total = int(round(seconds * fps))
    tracks = []
    for params in people[:n_people]:
        start_frame = int(rng.integers(0, max(1, int(total * 0.6))))
        entry_edge = int(rng.integers(0, 4))
        exit_edge = int(rng.choice([e for e in range(4) if e != entry_edge]))
        a, b = _edge_point(rng, room, entry_edge), _edge_point(rng, room, exit_edge)
        heading = float(np.arctan2(b[0] - a[0], b[1] - a[1]))
        duration = min(np.linalg.norm(b - a) / params.speed_mps, (total - start_frame) / fps)
        if duration * fps < 1:
            continue
        joints = walk(params, duration, fps, (a[0], -camera_height_m, a[1]), heading, rng)
        tracks.append(SceneTrack(params.identity, start_frame, joints))
    return sorted(tracks, key=lambda track: track.start_frame)
