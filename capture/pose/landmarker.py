"""MediaPipe's Tasks `PoseLandmarker` run on a whole image or on one proposed person's enlarged crop: for people
not followed yet (its detector aligns the crop); people already found go through `capture.pose.landmark_model`.

A crop is a square around the proposal, `crop_scale` times its height, resized to `CROP_PX` (the landmark model's
own input is 256 px), so a 60 px person is upscaled about 2.7 times. Outside the proposal (plus a margin) the crop
is filled with mid grey: with a neighbour in view the detector tends to pick the neighbour, even with several
poses allowed (measured on crops around the 69 hand-labelled vtest.avi people: 57 found in open crops with up to
3 poses each, 67 in masked crops with one).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from capture.pose.bundle import PoseError
from capture.pose.proposals import Box
from capture.pose.roi import Roi

logger = logging.getLogger(__name__)

CROP_PX = 256
FILL = 128  # grey outside the proposal
MASK_MARGIN = (0.1, 0.2, 0.1, 0.3)  # left, top, right, bottom: of the proposal height (legs often cut short)
NUM_LANDMARKS = 33


@dataclass(frozen=True)
class Landmarks:
    """One person's MediaPipe landmarks mapped back to the full image.

    keypoints: (33, 2) pixels (u, v) in the full image.
    visibility: (33,) in [0, 1], MediaPipe's visibility (in view and not occluded).
    world: (33, 3) MediaPipe world landmarks: metres, origin between the hips, axes as the camera (x right,
        y down, z away), scale from MediaPipe's average body.
    next_roi: where the landmark model should look for this person in the next frame (None: not known yet).
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    next_roi: Roi | None = None

    @property
    def box(self) -> Box:
        lo, hi = self.keypoints.min(axis=0), self.keypoints.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    @property
    def score(self) -> float:
        return float(self.visibility.mean())


def _crop_square(image: np.ndarray, box: Box, crop_scale: float) -> tuple[np.ndarray, float, float, float]:
    """Masked square crop around `box`, resized to CROP_PX: (crop, left, top, side) with left/top/side in pixels."""
    x0, y0, x1, y1 = box
    h = max(y1 - y0, (x1 - x0) / 0.6, 1.0)  # a wide box (group, lying person) still fits the square
    side = crop_scale * h
    left, top = (x0 + x1 - side) / 2.0, (y0 + y1 - side) / 2.0
    n, ox, oy = max(1, int(round(side))), int(round(left)), int(round(top))
    canvas = np.full((n, n, 3), FILL, np.uint8)
    # The kept part: the proposal plus its margin, inside both the image and the square.
    ml, mt, mr, mb = (m * (y1 - y0) for m in MASK_MARGIN)
    kx0, ky0 = max(0, ox, int(x0 - ml)), max(0, oy, int(y0 - mt))
    kx1 = min(image.shape[1], ox + n, int(np.ceil(x1 + mr)))
    ky1 = min(image.shape[0], oy + n, int(np.ceil(y1 + mb)))
    if kx1 > kx0 and ky1 > ky0:
        canvas[ky0 - oy:ky1 - oy, kx0 - ox:kx1 - ox] = image[ky0:ky1, kx0:kx1]
    interp = cv2.INTER_CUBIC if n < CROP_PX else cv2.INTER_AREA
    return cv2.resize(canvas, (CROP_PX, CROP_PX), interpolation=interp), float(ox), float(oy), float(n)


class CropLandmarker:
    """A `PoseLandmarker` in IMAGE mode (each call independent: crops of different people share no state).

    Args:
        bundle_path: the `.task` bundle (see `capture.pose.bundle`).
        num_poses: most people MediaPipe returns per call.
        min_confidence: MediaPipe's detection and presence thresholds; low, because crops are small people.
        crop_scale: crop side over proposal height.
    """

    def __init__(self, bundle_path: Path, *, num_poses: int = 1, min_confidence: float = 0.3,
                 crop_scale: float = 1.6):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self.crop_scale = crop_scale
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(bundle_path)), running_mode=vision.RunningMode.IMAGE,
            num_poses=num_poses, min_pose_detection_confidence=min_confidence,
            min_pose_presence_confidence=min_confidence)
        self._landmarker = vision.PoseLandmarker.create_from_options(options)

    def detect(self, rgb: np.ndarray, box: Box | None = None) -> list[Landmarks]:
        """People in the whole (H, W, 3) uint8 RGB image, or in the masked crop around `box`."""
        if box is None:
            image, left, top, side_x, side_y = rgb, 0.0, 0.0, float(rgb.shape[1]), float(rgb.shape[0])
        else:
            image, left, top, side = _crop_square(rgb, box, self.crop_scale)
            side_x = side_y = side
        if self._landmarker is None:
            raise PoseError("the pose landmarker was closed; make a new PoseEstimator")
        result = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                                                        data=np.ascontiguousarray(image)))
        people = []
        for norm, world in zip(result.pose_landmarks, result.pose_world_landmarks):
            xyv = np.array([(p.x, p.y, p.visibility if p.visibility is not None else 0.0) for p in norm])
            keypoints = np.stack([left + xyv[:, 0] * side_x, top + xyv[:, 1] * side_y], axis=1)
            wxyz = np.array([(p.x, p.y, p.z) for p in world], dtype=np.float64)
            people.append(Landmarks(keypoints, np.clip(xyv[:, 2], 0.0, 1.0), wxyz))
        return people

    def close(self) -> None:
        """Release the graph; closing twice is harmless."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None
