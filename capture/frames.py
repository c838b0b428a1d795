"""The typed values passed between capture stages: camera intrinsics, a frame bundle, a 3D skeleton.

Camera frame (as RealSense): x right, y DOWN, z forward (away from the camera), metres; pixel u grows to the
right and v downwards, with the pixel centre at integer coordinates. Every value object is frozen and checks its
shapes when built, so a wrong array is caught where it enters the pipeline and not three stages later.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import SkelwatchError
from reid.errors import SkeletonError
from reid.skeleton import NUM_CANONICAL


class FrameError(SkelwatchError):
    """A frame's images or intrinsics do not fit together (wrong shape, dtype or size)."""


def _as_array(value: object, shape: tuple[int | None, ...], dtype: type, what: str,
              error: type[SkelwatchError]) -> np.ndarray:
    """`value` as an array of `dtype` whose shape matches `shape` (None = any size), else `error`."""
    arr = np.asarray(value)
    if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise error(f"{what}: expected shape {want}, got {arr.shape}")
    return arr.astype(dtype, copy=False)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an (undistorted) image: size in pixels, focal lengths and principal point in pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise FrameError(f"intrinsics: image size {self.width}x{self.height} must be positive")
        if not (np.isfinite(self.fx) and np.isfinite(self.fy) and self.fx > 0 and self.fy > 0):
            raise FrameError(f"intrinsics: focal lengths fx={self.fx}, fy={self.fy} must be finite and positive")
        if not (np.isfinite(self.cx) and np.isfinite(self.cy)):
            raise FrameError(f"intrinsics: principal point ({self.cx}, {self.cy}) must be finite")

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        """Square pixels, principal point at the image centre, the given horizontal field of view (degrees)."""
        if not 0.0 < hfov_deg < 180.0:
            raise FrameError(f"intrinsics: horizontal field of view {hfov_deg} must lie in (0, 180) degrees")
        f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(int(width), int(height), float(f), float(f), (width - 1) / 2.0, (height - 1) / 2.0)

    def deproject(self, u: np.ndarray | float, v: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        """Pixels at depth z (metres along the optical axis) to camera-frame points.

        Args:
            u, v, z: broadcastable arrays (pixels, pixels, metres).
        Returns:
            (..., 3) float64 points: x right, y down, z forward, metres.
        """
        u, v, z = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64),
                                      np.asarray(z, np.float64))
        return np.stack([(u - self.cx) / self.fx * z, (v - self.cy) / self.fy * z, z], axis=-1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points (z > 0) to (..., 2) pixels (u, v); z <= 0 gives NaN."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise FrameError(f"project: expected points of shape (..., 3), got {p.shape}")
        z = np.where(p[..., 2] > 0, p[..., 2], np.nan)
        return np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy], axis=-1)


@dataclass(frozen=True)
class TruthSkeleton:
    """A ground-truth skeleton carried by a synthetic or dataset frame: who it is and its (20, 3) joints."""

    identity: str
    joints: np.ndarray  # (20, 3) canonical Kinect v1 layout, camera frame, metres

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", _as_array(self.joints, (NUM_CANONICAL, 3), np.float32,
                                                     f"truth skeleton {self.identity!r} joints", SkeletonError))


@dataclass(frozen=True)
class FrameBundle:
    """One synchronised capture instant.

    `color` is (H, W, 3) uint8 BGR (OpenCV order); `depth_m` is (H, W) float32 metres aligned to color pixels
    (0 = no reading); either may be None (a video file has no depth, a skeleton file has no images).
    """

    index: int
    timestamp_s: float
    color: np.ndarray | None
    depth_m: np.ndarray | None
    intrinsics: Intrinsics | None
    truth: tuple[TruthSkeleton, ...] = ()

    def __post_init__(self) -> None:
        size = None
        if self.color is not None:
            color = np.asarray(self.color)
            if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
                raise FrameError(f"frame {self.index}: color must be (H, W, 3) uint8 BGR, "
                                 f"got {color.shape} {color.dtype}")
            size = color.shape[:2]
        if self.depth_m is not None:
            depth = _as_array(self.depth_m, (None, None), np.float32, f"frame {self.index}: depth_m", FrameError)
            if size is not None and depth.shape != size:
                raise FrameError(f"frame {self.index}: depth {depth.shape} is not aligned to color {size}; "
                                 "align depth to the color stream first")
            object.__setattr__(self, "depth_m", depth)
            size = depth.shape
        if size is not None and self.intrinsics is not None \
                and (self.intrinsics.height, self.intrinsics.width) != size:
            raise FrameError(f"frame {self.index}: intrinsics are for {self.intrinsics.width}x"
                             f"{self.intrinsics.height} but the images are {size[1]}x{size[0]}")
        object.__setattr__(self, "truth", tuple(self.truth))

    @property
    def size(self) -> tuple[int, int] | None:
        """(height, width) of the images, or None for a frame without images."""
        image = self.color if self.color is not None else self.depth_m
        return None if image is None else (int(image.shape[0]), int(image.shape[1]))


@dataclass(frozen=True)
class Skeleton3D:
    """One person's canonical 20-joint skeleton in one frame, as pose estimation hands it to tracking.

    `joints` are metres in the camera frame (NaN only for a joint that could not be placed at all); `confidence`
    is per joint in [0, 1]; `box` (x0, y0, x1, y1) and `keypoints_2d` (20, 2) are image pixels when the skeleton
    came from an image, and then `appearance` is the clothing-colour signature inside the box.
    """

    joints: np.ndarray  # (20, 3) float32
    confidence: np.ndarray  # (20,) float32
    box: tuple[float, float, float, float] | None
    timestamp_s: float
    frame_index: int
    keypoints_2d: np.ndarray | None = None  # (20, 2) float32
    appearance: np.ndarray | None = None  # (D,) float32 unit vector: clothing colour (`capture.appearance`)

    def __post_init__(self) -> None:
        joints = _as_array(self.joints, (NUM_CANONICAL, 3), np.float32, "skeleton joints", SkeletonError)
        conf = _as_array(self.confidence, (NUM_CANONICAL,), np.float32, "skeleton confidence", SkeletonError)
        if not np.all((conf >= 0.0) & (conf <= 1.0)):
            bad = conf[~((conf >= 0.0) & (conf <= 1.0))]
            raise SkeletonError(f"skeleton confidence must lie in [0, 1] (no NaN), got {bad[:3].tolist()}")
        object.__setattr__(self, "joints", joints)
        object.__setattr__(self, "confidence", conf)
        if self.keypoints_2d is not None:
            object.__setattr__(self, "keypoints_2d", _as_array(self.keypoints_2d, (NUM_CANONICAL, 2), np.float32,
                                                               "skeleton keypoints_2d", SkeletonError))
        if self.appearance is not None:
            object.__setattr__(self, "appearance", _as_array(self.appearance, (None,), np.float32,
                                                             "skeleton appearance", SkeletonError))
        if self.box is not None:
            box = tuple(float(v) for v in self.box)
            if len(box) != 4 or not (box[0] <= box[2] and box[1] <= box[3]):
                raise SkeletonError(f"skeleton box must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, "
                                    f"got {self.box}")
            object.__setattr__(self, "box", box)


def depth_to_units(depth_m: np.ndarray, scale_m: float) -> np.ndarray:
    """(H, W) metres -> (H, W) uint16 sensor units of `scale_m` metres, as a Z16 depth stream stores them.

    Holes (NaN, inf) become 0, the Z16 "no depth" value; depths beyond 65535 units saturate.
    """
    depth = np.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0) / scale_m
    return np.clip(np.round(depth), 0, 65535).astype(np.uint16)
