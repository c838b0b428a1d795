"""Lift image landmarks to camera-frame metres: through aligned depth, or by an assumed body height without it.

With depth, each landmark takes the median depth of a small patch around it, counting only pixels within
`max_offset_m` of the body's median depth: holes (0), the background seen past a limb's edge, and the floor
beside a foot all fall out of that band. A landmark with too few pixels in the band keeps MediaPipe's relative
depth (its world z offset) around the body depth and gets zero depth validity. The point found is on the skin;
it is pushed back along its viewing ray to the joint centre by a fixed anatomical depth per landmark.

Without depth (a video file or a webcam), the size of the person in the image gives the distance: MediaPipe's
metric world landmarks are rescaled so that the person is `person_height_m` tall (1.70 m by default, an adult
average; a 1.55 m person comes out 10 % too far and 10 % too large), then placed so that the hip centre projects
where it was seen. Missing intrinsics are replaced by a 60 degree horizontal field of view (typical of webcams
and of the recorded video), which scales every distance by the same unknown factor.
"""
from __future__ import annotations

import numpy as np

from capture.frames import Intrinsics

# MediaPipe 33 indices used for anchoring.
LEFT_EYE, RIGHT_EYE = 2, 5
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_LEG = (23, 25, 27, 29)  # hip, knee, ankle, heel
RIGHT_LEG = (24, 26, 28, 30)
EYE_TO_HEEL_OF_HEIGHT = 0.92  # eye height 0.936 of stature (Drillis-Contini), heel landmark ~0.02 above ground
DEFAULT_HFOV_DEG = 60.0


def _centre_depths() -> np.ndarray:
    """(33,) metres from the skin facing the camera to each landmark's joint centre (adult anatomy, rounded).

    Depth sees the body's surface; the joints are inside it. Measured on the synthetic scene (capsule bodies),
    lifting without this put every joint 4-13 cm too near (the torso most).
    """
    r = np.full(33, 0.03)
    r[0:11] = 0.09  # face landmarks to the head centre
    r[[7, 8]] = 0.07  # ears: the side of the head
    r[[11, 12]] = 0.07  # shoulders
    r[[13, 14]] = 0.04  # elbows
    r[[15, 16]] = 0.03  # wrists
    r[17:23] = 0.02  # fingers
    r[[23, 24]] = 0.10  # hips: the joint is deep in the pelvis
    r[[25, 26]] = 0.05  # knees
    r[[27, 28]] = 0.04  # ankles
    return r


SURFACE_TO_CENTRE_M = _centre_depths()


def default_intrinsics(width: int, height: int) -> Intrinsics:
    """The stand-in for an image without intrinsics: a 60 degree horizontal field of view."""
    return Intrinsics.from_hfov(width, height, DEFAULT_HFOV_DEG)


def _patches(depth: np.ndarray, keypoints: np.ndarray, radius: int) -> np.ndarray:
    """(N, P) depth values of the (2r+1)^2 pixels around each keypoint; NaN outside the image or non-finite."""
    h, w = depth.shape
    d = np.arange(-radius, radius + 1)
    du, dv = np.meshgrid(d, d)
    u = np.round(keypoints[:, 0:1]).astype(np.int64) + du.ravel()[None, :]  # (N, P)
    v = np.round(keypoints[:, 1:2]).astype(np.int64) + dv.ravel()[None, :]
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    values = depth[np.clip(v, 0, h - 1), np.clip(u, 0, w - 1)].astype(np.float64)
    values[~inside | ~np.isfinite(values) | (values <= 0)] = np.nan
    return values


def _row_nanmedian(values: np.ndarray) -> np.ndarray:
    """(N, P) -> (N,) median of each row's non-NaN values (every row has one at least).

    np.nanmedian gives the same, but on arrays this small it goes through masked arrays and cost more than
    the rest of the lift together."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(len(values))
    return 0.5 * (ordered[rows, (count - 1) // 2] + ordered[rows, count // 2])


def lift_with_depth(keypoints: np.ndarray, visibility: np.ndarray, world: np.ndarray, depth_m: np.ndarray,
                    intrinsics: Intrinsics, *, patch_radius_px: int = 2, max_offset_m: float = 0.5,
                    min_valid_share: float = 0.25,
                    centre_depth_m: np.ndarray | None = SURFACE_TO_CENTRE_M) -> tuple[np.ndarray, np.ndarray] | None:
    """Deproject landmarks through aligned depth.

    Args:
        keypoints: (N, 2) pixels (u, v) in the depth image.
        visibility: (N,) landmark visibility; joints at 0.5 or more decide the body's median depth.
        world: (N, 3) MediaPipe world landmarks (metres), whose z offsets place joints without depth.
        depth_m: (H, W) metres, 0 = hole.
        intrinsics: of the depth (= color, aligned) image.
        patch_radius_px: the patch is (2r+1)^2 pixels.
        max_offset_m: a depth pixel counts for the body within this distance of its median depth.
        min_valid_share: below this share of patch pixels in that band, the joint has no depth reading.
        centre_depth_m: (N,) metres each joint is pushed back along its viewing ray, from the seen surface to
            the joint centre (None: keep the surface).
    Returns:
        (joints (N, 3) metres camera frame, depth validity (N,) in [0, 1]: the share of the patch in the band,
        0 for joints placed from MediaPipe's relative depth), or None if no landmark touches valid depth.
    """
    kp = np.asarray(keypoints, np.float64)
    patches = _patches(np.asarray(depth_m), kp, patch_radius_px)  # (N, P)
    has_any = np.isfinite(patches).any(axis=1)
    if not has_any.any():
        return None
    joint_z = _row_nanmedian(patches[has_any])  # per joint with any reading
    voters = np.asarray(visibility)[has_any] >= 0.5
    body_z = float(np.median(joint_z[voters] if voters.any() else joint_z))
    band = np.abs(patches - body_z) <= max_offset_m  # NaN compares False: holes drop out
    share = band.sum(axis=1) / patches.shape[1]
    ok = share >= min_valid_share
    z = np.full(len(kp), body_z)
    if ok.any():
        z[ok] = _row_nanmedian(np.where(band, patches, np.nan)[ok])
        wz = np.asarray(world, np.float64)[:, 2]
        z[~ok] = np.median(z[ok]) + (wz[~ok] - np.median(wz[ok]))
    joints = intrinsics.deproject(kp[:, 0], kp[:, 1], z)
    if centre_depth_m is not None:
        joints += np.asarray(centre_depth_m)[:, None] * joints / np.linalg.norm(joints, axis=1, keepdims=True)
    return joints, np.where(ok, share, 0.0)


def _chain(points: np.ndarray) -> np.ndarray:
    """(3, D) upper-body chain: eye mid, shoulder mid, hip mid."""
    def mid(a: int, b: int) -> np.ndarray:
        return (points[a] + points[b]) / 2

    return np.stack([mid(LEFT_EYE, RIGHT_EYE), mid(LEFT_SHOULDER, RIGHT_SHOULDER), mid(LEFT_HIP, RIGHT_HIP)])


def _chain_length(points: np.ndarray, dims: slice = slice(None), weights: np.ndarray | None = None) -> float:
    """Eyes-to-heels length along the body: upper chain plus the mean of the two legs (hip-knee-ankle-heel)."""
    p = points[:, dims] if weights is None else points[:, dims] / weights
    upper = np.linalg.norm(np.diff(_chain(p), axis=0), axis=1).sum()
    legs = [np.linalg.norm(np.diff(p[list(leg)], axis=0), axis=1).sum() for leg in (LEFT_LEG, RIGHT_LEG)]
    return float(upper + np.mean(legs))


def lift_without_depth(keypoints: np.ndarray, world: np.ndarray, intrinsics: Intrinsics, *,
                       person_height_m: float = 1.70) -> np.ndarray | None:
    """Place MediaPipe's world landmarks in the camera frame from the person's size in the image.

    The size is the length along the body from the eyes to the heels (shoulders, hips, knees, ankles on the
    way), which bent knees or a lean shorten much less than the straight eye-to-heel distance.

    Args:
        keypoints: (N=33, 2) pixels.
        world: (33, 3) MediaPipe world landmarks (metres, hip-centred, camera axes).
        intrinsics: of the image (or `default_intrinsics`).
        person_height_m: assumed stature.
    Returns:
        (33, 3) metres camera frame, or None for a degenerate pose (all landmarks on one point).
    """
    kp, w = np.asarray(keypoints, np.float64), np.asarray(world, np.float64)
    length_w = _chain_length(w)
    if length_w < 1e-3:
        return None
    scale = person_height_m * EYE_TO_HEEL_OF_HEIGHT / length_w
    # The same chain in the image, in units of depth (pixels over focal length), against its metric length
    # parallel to the image plane: their ratio is the distance.
    per_depth = _chain_length(kp, weights=np.array([intrinsics.fx, intrinsics.fy]))
    if per_depth < 1e-6:
        return None
    z = scale * _chain_length(w, dims=slice(0, 2)) / per_depth
    hip_px = (kp[LEFT_HIP] + kp[RIGHT_HIP]) / 2
    hip_w = (w[LEFT_HIP] + w[RIGHT_HIP]) / 2
    anchor = intrinsics.deproject(hip_px[0], hip_px[1], z)
    return anchor + scale * (w - hip_w)
