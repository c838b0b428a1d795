"""Association in the image: box overlap, box size and a pixel motion model for each track's box.

Why the image: without depth (a video, a depth hole under a person) a skeleton's distance comes from its pixel
height, so its 3D centre jumps by metres when the legs are cut off or an arm hides the head. Its box and
keypoints in the image do not jump, so colour-only tracking associates there (as SORT/ByteTrack do) and keeps
the metric gates of `capture.tracking` for valid depth.

Boxes are (x0, y0, x1, y1) pixels. A box's motion is a constant-velocity Kalman filter on (centre x, centre
y, width, height) with noise in proportion to the box height, as in ByteTrack; a few array operations per track.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from capture.boxes import box_iou

if TYPE_CHECKING:
    from capture.frames import Skeleton3D

INFEASIBLE = 1e6  # stands in for +inf in the assignment (scipy rejects rows that are all inf)


def skeleton_box(skeleton: Skeleton3D, min_confidence: float) -> np.ndarray:
    """(4,) the skeleton's image box, else the extent of its confident 2D keypoints, else NaN."""
    if skeleton.box is not None:
        return np.array(skeleton.box, dtype=np.float64)
    if skeleton.keypoints_2d is not None:
        kp = skeleton.keypoints_2d[(skeleton.confidence >= min_confidence)
                                   & np.isfinite(skeleton.keypoints_2d).all(axis=1)]
        if len(kp) >= 2:
            return np.concatenate([kp.min(axis=0), kp.max(axis=0)]).astype(np.float64)
    return np.full(4, np.nan)


def solve(cost: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian assignment on (N, M) costs; pairs at `INFEASIBLE` are not pairs."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < INFEASIBLE]


class BoxMotion:
    """One track's box in the image: a constant-velocity Kalman filter on (centre x, centre y, width, height).

    As in SORT/ByteTrack the noise scales with the box height (a far person's box moves and jitters fewer pixels
    than a near one's). Each of the four coordinates has its own position/velocity pair; they share the noise
    model, so the 2x2 covariances are kept as (4,) arrays. Rejected: a fixed-gain (alpha-beta) filter; its
    velocity gain stays high, so a skeleton box whose width jumps with an arm became a velocity of tens of
    pixels a second that carried a standing person's coasting track away from them (seen on vtest.avi).
    """

    MAX_COAST_S = 1.0  # beyond this a prediction keeps the last velocity's reach instead of growing
    INITIAL_SPEED_HPS = 1.0  # a new person's box velocity is unknown: about a walking speed, heights/s

    def __init__(self, box: np.ndarray, timestamp_s: float, noise_h: float = 0.05,
                 acceleration_hps2: float = 0.25) -> None:
        """Args:
            noise_h: standard deviation of an observed box coordinate, in box heights.
            acceleration_hps2: white-acceleration process noise, box heights per second squared.
        """
        self.state = _cxcywh(box)  # (4,) cx, cy, w, h at the last update
        self.velocity = np.zeros(4)  # (4,) pixels per second
        self.t = timestamp_s
        self._noise_h, self._acceleration_hps2 = noise_h, acceleration_hps2
        h = self.height
        self._p00 = np.full(4, (noise_h * h) ** 2)  # (4,) covariance terms per coordinate
        self._p01 = np.zeros(4)
        self._p11 = np.full(4, (self.INITIAL_SPEED_HPS * h) ** 2)

    def predict(self, timestamp_s: float) -> np.ndarray:
        """(4,) box (x0, y0, x1, y1) expected at `timestamp_s`."""
        dt = min(max(timestamp_s - self.t, 0.0), self.MAX_COAST_S)
        return _xyxy(self.state + dt * self.velocity)

    def mahalanobis(self, boxes: np.ndarray, timestamp_s: float) -> np.ndarray:
        """(M, 4) boxes -> (M,) distance, in standard deviations, of each box's (cx, cy, w, h) from the one
        expected at `timestamp_s`; the spread grows with the time unseen (uncapped, unlike the mean)."""
        dt = max(timestamp_s - self.t, 0.0)
        h = self.height
        q, r = (self._acceleration_hps2 * h) ** 2, (self._noise_h * h) ** 2
        var = self._p00 + 2.0 * dt * self._p01 + dt * dt * self._p11 + q * dt ** 3 / 3.0 + r  # (4,)
        mean = self.state + min(dt, self.MAX_COAST_S) * self.velocity
        xywh = np.stack([_cxcywh(b) for b in np.asarray(boxes, np.float64).reshape(-1, 4)])  # (M, 4)
        return np.sqrt((((xywh - mean) ** 2) / var).sum(axis=1))

    def update(self, box: np.ndarray, timestamp_s: float) -> None:
        dt = timestamp_s - self.t
        observed = _cxcywh(box)
        if dt <= 0.0:
            self.state = observed
            return
        h = self.height
        q, r = (self._acceleration_hps2 * h) ** 2, (self._noise_h * h) ** 2
        p00 = self._p00 + 2.0 * dt * self._p01 + dt * dt * self._p11 + q * dt ** 3 / 3.0
        p01 = self._p01 + dt * self._p11 + q * dt * dt / 2.0
        p11 = self._p11 + q * dt
        k0, k1 = p00 / (p00 + r), p01 / (p00 + r)
        residual = observed - (self.state + dt * self.velocity)
        self.state = self.state + dt * self.velocity + k0 * residual
        self.velocity = self.velocity + k1 * residual
        self._p00, self._p01, self._p11 = p00 - k0 * p00, p01 - k0 * p01, p11 - k1 * p01
        self.t = timestamp_s

    @property
    def height(self) -> float:
        return float(max(self.state[3], 1.0))


def _cxcywh(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0, x1 - x0, y1 - y0])


def _xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy, w, h = state
    return np.array([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])


def image_cost(predicted: np.ndarray, heights: np.ndarray, boxes: np.ndarray, min_iou: float,
               reach: np.ndarray) -> np.ndarray:
    """Cost 1 - IoU of tracks' predicted boxes (N, 4) against detections (M, 4), with two gates.

    A pair is feasible when the boxes overlap by `min_iou`, or, for a fast or coasting track whose box moved
    past its own width, when the centres are within reach[n] track heights and the heights agree within a
    factor 1.5 (a far person's box sits inside a near one's without being them).
    Returns:
        (N, M) cost; INFEASIBLE outside the gates.
    """
    iou = box_iou(predicted, boxes)
    pc = (predicted[:, None, :2] + predicted[:, None, 2:]) / 2.0
    dc = (boxes[None, :, :2] + boxes[None, :, 2:]) / 2.0
    dist = np.linalg.norm(pc - dc, axis=2) / heights[:, None]  # (N, M) in track heights
    ratio = (boxes[None, :, 3] - boxes[None, :, 1]) / heights[:, None]
    similar = (ratio > 1 / 1.5) & (ratio < 1.5)
    feasible = similar & ((iou >= min_iou) | (dist <= reach[:, None]))
    # Two people crossing at different depths overlap in the image but differ in height: size counts too.
    cost = (1.0 - iou) + 0.5 * dist + 2.0 * np.abs(np.log(np.clip(ratio, 1e-3, None)))
    return np.where(feasible & np.isfinite(cost), cost, INFEASIBLE)
