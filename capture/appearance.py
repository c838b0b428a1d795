"""A person's clothing colour as a small vector: what tells two people apart when their boxes overlap.

A colour-only camera gives the tracker boxes and height-lifted skeletons; two people walking side by side, or
one passing in front of another, have nearly the same box and the same motion, and the body proportions of a
40-80 px tall skeleton are too noisy to separate them. Their clothes usually differ. The signature is an HSV
histogram of the upper body (shoulders to hips) and one of the lower body (hips to knees) inside the central
part of the person's box (the box edges are mostly background), each L1-normalised and square-rooted, so the
dot product of two signatures is the mean Bhattacharyya coefficient of the two parts: 1 for the same colours,
0 for none in common. Hue is weighted by saturation and value through the bins: dark or grey clothes fall in
the low-saturation or low-value bins whatever their (unstable) hue.

Rejected: a CNN re-ID embedding (tens of ms per person on CPU, a model to ship); the whole box (mostly
background for a walking person seen from the side).
"""
from __future__ import annotations

import cv2
import numpy as np

HUE_BINS, SATURATION_BINS, VALUE_BINS = 8, 3, 3
_PARTS = ((0.18, 0.50), (0.50, 0.80))  # upper body, lower body: fractions of the box height from its top
_CENTRE = 0.6  # share of the box width kept around its centre
SIZE = len(_PARTS) * HUE_BINS * SATURATION_BINS * VALUE_BINS


def signature(bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """The clothing-colour signature of the person in `box` (x0, y0, x1, y1 pixels) of a BGR uint8 image.

    Returns:
        (SIZE,) float32 unit vector, or None when the box holds too few pixels (under 4 per part).
    """
    h, w = bgr.shape[:2]
    x0, y0, x1, y1 = box
    cx, half = (x0 + x1) / 2.0, _CENTRE * (x1 - x0) / 2.0
    left, right = int(max(0.0, np.floor(cx - half))), int(min(float(w), np.ceil(cx + half)))
    parts = []
    for top, bottom in _PARTS:
        a, b = int(max(0.0, y0 + top * (y1 - y0))), int(min(float(h), y0 + bottom * (y1 - y0)))
        patch = bgr[a:b, left:right]
        if patch.shape[0] * patch.shape[1] < 4:
            return None
        hsv = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [HUE_BINS, SATURATION_BINS, VALUE_BINS],
                            [0, 180, 0, 256, 0, 256]).ravel()
        parts.append(np.sqrt(hist / hist.sum()))
    vec = np.concatenate(parts) / np.sqrt(len(_PARTS))  # each part has unit norm: the whole has unit norm
    return vec.astype(np.float32)


def appearance_distance(tracks: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """(N, D), (M, D) signatures (NaN rows: unknown) -> (N, M) 1 - Bhattacharyya coefficient in [0, 1];
    0 where either side is unknown (no evidence either way)."""
    dist = 1.0 - np.clip(np.nan_to_num(tracks) @ np.nan_to_num(detections).T, 0.0, 1.0)
    known = np.isfinite(tracks).all(axis=1)[:, None] & np.isfinite(detections).all(axis=1)[None, :]
    return np.where(known, dist, 0.0)
