"""The rotated square region the landmark model reads, computed the way MediaPipe's pose graphs compute it.

MediaPipe (`pose_landmarks_to_roi.pbtxt`, `AlignmentPointsRectsCalculator`, `RectTransformationCalculator`):
two alignment points, the hip centre and a point past the head along the body axis, give the centre (the first
point), the side (twice their distance, times 1.25) and the rotation (the body axis turned upright:
rotation = 90 deg - atan2(-(y1 - y0), x1 - x0)). The crop is that square, rotated, resampled to the model's
256 px input; a landmark at normalised (x, y) in the crop maps back by the same rotation and scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from capture.pose.proposals import Box

ROI_SCALE = 1.25  # RectTransformationCalculator scale_x / scale_y in pose_landmarks_to_roi.pbtxt
HIPS, SHOULDERS = (23, 24), (11, 12)  # MediaPipe 33 indices
# The body-size point MediaPipe's model predicts lies this far from the hip centre, over the farthest of the 33
# landmarks from it (median 1.12 on the 68 labelled vtest.avi people the Tasks landmarker finds); only used to
# seed a region from landmarks that came without the model's own alignment points.
SIZE_OVER_REACH = 1.12


@dataclass(frozen=True)
class Roi:
    """A square region of the image: centre (pixels, continuous: pixel i spans [i, i+1)), side (pixels), and
    rotation (radians; MediaPipe's sign: positive turns the crop's up axis toward the image's +x)."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def _rotation(self) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.array([[c, -s], [s, c]])

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) normalised crop coordinates ([0, 1] across the crop) -> (N, 2) image pixels (continuous)."""
        return np.array([self.cx, self.cy]) + self.side * (np.asarray(xy, np.float64) - 0.5) @ self._rotation().T

    def rotate(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 2) vectors in crop axes -> image axes (for world landmarks' x, y)."""
        return np.asarray(vectors, np.float64) @ self._rotation().T

    def crop(self, image: np.ndarray, size: int) -> np.ndarray:
        """The (size, size, C) resampling of this square; parts outside the image repeat its edge pixels (as
        MediaPipe's ImageToTensorCalculator does), so a person at the border still gets a full crop."""
        a = self.side / size * self._rotation()  # crop pixel step -> image pixel step
        # crop pixel index j has continuous position j + 0.5; image index = continuous - 0.5
        b = np.array([self.cx, self.cy]) - 0.5 + a @ np.array([0.5, 0.5]) - self.side * self._rotation() @ [0.5, 0.5]
        matrix = np.concatenate([a, b[:, None]], axis=1)
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def to_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """(N, 2) image pixels (continuous) -> (N, 2) pixels of the (size, size) crop: the inverse of to_image."""
        xy = (np.asarray(points, np.float64) - [self.cx, self.cy]) @ self._rotation() / self.side + 0.5
        return xy * size

    def masked_crop(self, image: np.ndarray, size: int, keep: Box, fill: int) -> np.ndarray:
        """`crop`, with everything outside the image box `keep` set to `fill`: a neighbour next to the person
        pulls the landmark model over (as it pulls MediaPipe's detector, see `capture.pose.landmarker`)."""
        crop = self.crop(image, size)
        x0, y0, x1, y1 = keep
        corners = self.to_crop(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), size)
        mask = np.zeros((size, size), np.uint8)
        cv2.fillConvexPoly(mask, np.round(corners * 16).astype(np.int32), 1, shift=4)
        out = np.full_like(crop, fill)
        cv2.copyTo(crop, mask, out)  # a twentieth of the cost of boolean indexing
        return out

    @property
    def box(self) -> Box:
        """The axis-aligned box around the rotated square."""
        half = 0.5 * self.side * (abs(math.cos(self.angle)) + abs(math.sin(self.angle)))
        return self.cx - half, self.cy - half, self.cx + half, self.cy + half

    def overlap(self, width: int, height: int) -> float:
        """Share of the region's box inside a width x height image (0 = entirely outside)."""
        x0, y0, x1, y1 = self.box
        inside = max(0.0, min(x1, width) - max(x0, 0.0)) * max(0.0, min(y1, height) - max(y0, 0.0))
        return inside / max((x1 - x0) * (y1 - y0), 1e-9)


def roi_from_alignment(centre: np.ndarray, size_point: np.ndarray) -> Roi:
    """MediaPipe's region from its two alignment points (pixels): hip centre and the body-size point."""
    dx, dy = float(size_point[0] - centre[0]), float(size_point[1] - centre[1])
    angle = math.pi / 2 - math.atan2(-dy, dx)
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    return Roi(float(centre[0]), float(centre[1]), 2.0 * math.hypot(dx, dy) * ROI_SCALE, angle)


def roi_from_landmarks(keypoints: np.ndarray) -> Roi:
    """A region from 33 landmarks alone (no alignment points): hip centre, axis hips -> shoulders, size from
    the farthest landmark. Used for people found by the Tasks landmarker, whose output lacks the points."""
    kp = np.asarray(keypoints, np.float64)
    hip = kp[list(HIPS)].mean(axis=0)
    axis = kp[list(SHOULDERS)].mean(axis=0) - hip
    reach = float(np.linalg.norm(kp - hip, axis=1).max())
    norm = float(np.linalg.norm(axis))
    direction = axis / norm if norm > 1e-6 else np.array([0.0, -1.0])
    return roi_from_alignment(hip, hip + direction * reach * SIZE_OVER_REACH)


def roi_from_box(box: Box, crop_scale: float) -> Roi:
    """An upright square around a proposal box, `crop_scale` times its height (a 1-pixel box gets 1 pixel)."""
    x0, y0, x1, y1 = box
    h = max(y1 - y0, (x1 - x0) / 0.6, 1.0)  # a wide box (group, lying person) still fits
    return Roi((x0 + x1) / 2.0, (y0 + y1) / 2.0, crop_scale * h, 0.0)
