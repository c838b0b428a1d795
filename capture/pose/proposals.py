"""Person region proposals: where in the image to run the landmarker, one person per region.

MediaPipe's own detector misses people under ~150 px tall (on vtest.avi, people 60-110 px tall, it finds at most
2 of 3-8), so pose is top-down: a proposer names regions, the landmarker runs on each enlarged, upscaled crop.
- `motion` (a fixed RGB camera): MOG2 background subtraction; foreground blobs of person size. A blob wider than
  one person (a group walking together) is split by OpenCV's HOG people detector run on the upscaled blob, plus
  person-wide windows across it, because HOG alone misses people under its 128 px window and partly hidden ones.
- `depth` (a depth camera): pixels nearer than the learned depth background by a margin, cut at depth edges,
  kept when the blob is person-sized in metres. Until a background is learned the whole image is proposed.
- `none`: the whole image (close-up cameras, where people are large enough for MediaPipe's own detector).
Every proposer sees every frame in order through `observe`, so its background stays current even on frames
that are not estimated (warm-up, or a skipped frame under load).
"""
from __future__ import annotations

import abc
import logging
from typing import Callable

import cv2
import numpy as np

from capture.boxes import box_iou
from capture.frames import FrameBundle
from capture.pose.bundle import PoseError

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 pixels

PERSON_ASPECT = 0.45  # a walking person's box width / height (labelled vtest people: 0.33-0.47)
WINDOW_STRIDE = 0.2  # of the blob height, between person-wide windows across a wide blob
HOG_PERSON_PX = 110.0  # HOG's 64x128 window holds a person about this tall: blobs are upscaled to it

SPECK_PX = 4  # depth foreground thinner than this (image pixels) is noise, not a limb
MAX_PROPOSALS = 32  # cap per frame, largest first, so a flickering background cannot stall the landmarker


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first."""
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    iou = box_iou(boxes, boxes)
    keep: list[int] = []
    for i in order:
        if all(iou[i, k] < iou_threshold for k in keep):
            keep.append(int(i))
    return keep


class Proposer(abc.ABC):
    """Proposes person regions; `observe` every frame in order, `propose` on the frames to estimate."""

    @abc.abstractmethod
    def observe(self, frame: FrameBundle) -> None:
        """Update the background model with this frame (no proposal)."""

    @abc.abstractmethod
    def propose(self, frame: FrameBundle) -> list[Box]:
        """Person boxes in `frame` (observing it first if it was not observed yet)."""


class WholeImageProposer(Proposer):
    """The whole image as one region: MediaPipe's own detector finds the people (large people only)."""

    def observe(self, frame: FrameBundle) -> None:
        return None

    def propose(self, frame: FrameBundle) -> list[Box]:
        size = frame.size
        return [] if size is None else [(0.0, 0.0, float(size[1]), float(size[0]))]


def _blobs(mask: np.ndarray, min_height_px: float) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, y0, x1, y1) of the connected components of `mask` at least `min_height_px` tall."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for x, y, w, h, area in stats[1:]:
        if h >= min_height_px and area >= 0.1 * min_height_px**2:
            out.append((int(x), int(y), int(x + w), int(y + h)))
    return out


def _largest_first(boxes: list[Box]) -> list[Box]:
    boxes = sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    if len(boxes) > MAX_PROPOSALS:
        logger.debug("%d proposals, keeping the %d largest", len(boxes), MAX_PROPOSALS)
    return boxes[:MAX_PROPOSALS]


class MotionProposer(Proposer):
    """Moving foreground (MOG2) split into people with HOG and person-wide windows; for a fixed RGB camera.

    People who stand still fade into the background (and people already standing in the first frames are part
    of it), so every `scan_every_s` the whole image, upscaled, is also searched with HOG; that costs about as
    much as the landmarker on three people, hence not every frame (the estimator carries found people over).

    Args:
        min_person_px: shortest blob proposed (pixels).
        history_frames: MOG2 history: a person standing still this many frames fades into the background.
        var_threshold: MOG2 squared Mahalanobis distance for foreground.
        scan_every_s: seconds between whole-image HOG scans (None: never).
        scan_upscale: image scale of the scan; 1.4 lets HOG's 128 px window see people from ~70 px tall.
        mask_scale: image scale of the background model; at 0.5 it costs a quarter (MOG2 on a full 768x576
            frame takes about as long as the landmarker on one person) and a 40 px person is still 20 px.
    """

    def __init__(self, min_person_px: float = 40.0, *, history_frames: int = 300, var_threshold: float = 25.0,
                 scan_every_s: float | None = 2.0, scan_upscale: float = 1.4, mask_scale: float = 0.5):
        self.min_person_px = float(min_person_px)
        self.mask_scale = mask_scale
        self.scan_every_s = scan_every_s
        self.scan_upscale = scan_upscale
        self._last_scan_s: float | None = None
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history_frames, varThreshold=var_threshold,
                                                       detectShadows=True)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self._mask: np.ndarray | None = None
        self._observed_index: int | None = None

    def observe(self, frame: FrameBundle) -> None:
        if frame.color is None:
            raise PoseError(f"frame {frame.index} has no color image; the motion proposer needs one")
        small = cv2.resize(frame.color, None, fx=self.mask_scale, fy=self.mask_scale, interpolation=cv2.INTER_AREA)
        fg = self._mog.apply(small)
        mask = (fg == 255).astype(np.uint8)  # 127 marks shadows: a shadow is not a person
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        # A tall closing kernel rejoins a body split at the belt or the knees (clothing matching the ground).
        tall = max(3, int(round(11 * self.mask_scale)) | 1), max(3, int(round(5 * self.mask_scale)) | 1)
        self._mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones(tall, np.uint8))
        self._observed_index = frame.index

    def propose(self, frame: FrameBundle) -> list[Box]:
        if self._observed_index != frame.index or self._mask is None:
            self.observe(frame)
        boxes: list[Box] = []
        back = 1.0 / self.mask_scale
        for blob in _blobs(self._mask, self.min_person_px * self.mask_scale):
            x0, y0, x1, y1 = (int(round(v * back)) for v in blob)
            h, w = y1 - y0, x1 - x0
            if w <= 1.35 * PERSON_ASPECT * h:  # one person, with a stride or swinging arms
                boxes.append((float(x0), float(y0), float(x1), float(y1)))
                continue
            boxes += self._hog_people(frame.color, (x0, y0, x1, y1))
            width = PERSON_ASPECT * h
            steps = int(np.ceil((w - width) / (WINDOW_STRIDE * h))) + 1
            for k in range(steps):
                left = x0 + min(k * WINDOW_STRIDE * h, w - width)
                boxes.append((float(left), float(y0), float(left + width), float(y1)))
        if self.scan_every_s is not None and (self._last_scan_s is None or frame.timestamp_s < self._last_scan_s
                                              or frame.timestamp_s - self._last_scan_s >= self.scan_every_s):
            self._last_scan_s = frame.timestamp_s
            boxes += self._scan(frame.color, boxes)
        return _largest_first(boxes)

    def _scan(self, image: np.ndarray, proposed: list[Box]) -> list[Box]:
        """HOG people in the whole image that no motion proposal already covers."""
        big = cv2.resize(image, None, fx=self.scan_upscale, fy=self.scan_upscale, interpolation=cv2.INTER_LINEAR)
        rects, _ = self._hog.detectMultiScale(big, winStride=(8, 8), padding=(8, 8), scale=1.1)
        found = [_hog_box(r, self.scan_upscale, 0, 0) for r in np.asarray(rects).reshape(-1, 4)]
        found = [b for b in found if b[3] - b[1] >= self.min_person_px]
        if not found or not proposed:
            return found
        overlap = box_iou(np.array(found), np.array(proposed)).max(axis=1)
        return [b for b, o in zip(found, overlap) if o < 0.5]

    def _hog_people(self, image: np.ndarray, blob: tuple[int, int, int, int]) -> list[Box]:
        """HOG people in the neighbourhood of a wide blob, upscaled so a blob-tall person fills the window."""
        x0, y0, x1, y1 = blob
        h = y1 - y0
        scale = max(1.0, HOG_PERSON_PX / h)
        rx0, ry0 = max(0, int(x0 - 0.3 * h)), max(0, int(y0 - 0.25 * h))
        rx1, ry1 = min(image.shape[1], int(x1 + 0.3 * h)), min(image.shape[0], int(y1 + 0.25 * h))
        roi = cv2.resize(image[ry0:ry1, rx0:rx1], None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        if roi.shape[0] < 128 or roi.shape[1] < 64:
            return []
        rects, _ = self._hog.detectMultiScale(roi, winStride=(4, 4), padding=(8, 8), scale=1.05)
        return [_hog_box(r, scale, rx0, ry0) for r in np.asarray(rects).reshape(-1, 4)]


def _hog_box(rect: np.ndarray, scale: float, left: float, top: float) -> Box:
    """A HOG window (x, y, w, h) found in an image scaled by `scale` at offset (left, top) -> a person box."""
    x, y, w, h = rect
    # The default people detector's window holds the person in its central ~80 % of height, margins around.
    cx, cy, height = left + (x + w / 2) / scale, top + (y + h / 2) / scale, 0.8 * h / scale
    half_w = PERSON_ASPECT * height / 2
    return float(cx - half_w), float(cy - height / 2), float(cx + half_w), float(cy + height / 2)


class DepthProposer(Proposer):
    """Foreground in depth: nearer than the farthest depth seen at that pixel, person-sized in metres.

    Someone standing still since the first frame is never foreground, so every `scan_every_s` (and until a
    background exists) the whole image is proposed too: indoors, people near a depth camera are tall enough
    for MediaPipe's own detector; once found, the estimator carries them over. Only they need it (anyone who
    moved leaves the background behind them uncovered, so they stay foreground even when they stop, unlike in
    the motion proposer's fading model), and each scan is a detector pass over the whole image: every 5 s, not
    2 s as the motion proposer's HOG scan, cut pose CPU per person on bench.pipeline's scenes from 1.34 to 1.25
    bare landmark passes, with the same people found.

    Args:
        min_person_px: shortest blob proposed (pixels).
        margin_m: how much nearer than the background a pixel must be to count as foreground.
        edge_m: a depth step between neighbouring pixels larger than this separates two blobs.
        height_range_m: metric height a blob must have to be a person (a child to a tall adult, or a torso).
        forget_per_frame: how fast the background moves toward a nearer stable value (a moved chair).
        scan_every_s: seconds between whole-image proposals (None: only before a background exists).
        stride: every stride-th pixel of every stride-th row is modelled; at 2 the background and the blobs
            cost a quarter (at 640x480 the full image cost a third of a landmark pass a proposal) and a 40 px
            person is still 20 samples tall. Boxes come back in image pixels, to within a stride.
    """

    def __init__(self, min_person_px: float = 40.0, *, margin_m: float = 0.15, edge_m: float = 0.10,
                 height_range_m: tuple[float, float] = (0.7, 2.4), forget_per_frame: float = 0.002,
                 scan_every_s: float | None = 5.0, stride: int = 2):
        if stride < 1:
            raise PoseError(f"stride={stride} must be at least 1")
        self.stride = stride
        self.min_person_px = float(min_person_px)
        self.margin_m = margin_m
        self.edge_m = edge_m
        self.height_range_m = height_range_m
        self.forget_per_frame = forget_per_frame
        self.scan_every_s = scan_every_s
        self._background: np.ndarray | None = None  # (H, W) farthest depth seen, 0 = never seen
        self._before: np.ndarray | None = None  # the background before the last observed frame
        self._depth: np.ndarray | None = None  # the last observed depth, holes as 0
        self._observed_index: int | None = None
        self._last_scan_s: float | None = None

    def observe(self, frame: FrameBundle) -> None:
        if frame.depth_m is None:
            raise PoseError(f"frame {frame.index} has no depth image; use the motion proposer for RGB sources")
        sampled = frame.depth_m[::self.stride, ::self.stride]
        depth = np.nan_to_num(sampled.astype(np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        if self._background is None or self._background.shape != depth.shape:
            self._background = np.zeros_like(depth)
        # a person is judged against the scene without this frame: farther depth replaces the background,
        # nearer depth pulls it slowly (a new array each frame, so the one before stays as it was)
        self._before = bg = self._background
        pulled = bg - (bg - depth) * np.float32(self.forget_per_frame)
        self._background = np.where(depth > 0, np.where(depth > bg, depth, pulled), bg)
        self._depth = depth
        self._observed_index = frame.index

    def propose(self, frame: FrameBundle) -> list[Box]:
        if self._observed_index != frame.index or self._depth is None:
            self.observe(frame)
        depth, background = self._depth, self._before
        boxes: list[Box] = []
        fg = (depth > 0) & (background > 0) & (background - depth > self.margin_m)
        gy, gx = np.gradient(depth)
        # cut at depth steps (a person in front of another splits off); the step is per image pixel; squared
        # lengths, because np.hypot on float32 costs as much as the rest of the proposal
        fg &= gx * gx + gy * gy < (self.edge_m * self.stride) ** 2
        speck = max(2, round(SPECK_PX / self.stride))
        fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((speck, speck), np.uint8))
        fy = frame.intrinsics.fy / self.stride if frame.intrinsics is not None else None
        s = float(self.stride)
        for x0, y0, x1, y1 in _blobs(fg, self.min_person_px / s):
            if fy is not None:
                z = float(np.median(depth[y0:y1, x0:x1][fg[y0:y1, x0:x1] > 0]))
                height_m = (y1 - y0) * z / fy
                if not self.height_range_m[0] <= height_m <= self.height_range_m[1]:
                    continue
            boxes.append((s * x0, s * y0, s * x1, s * y1))
        no_background = not (background > 0).any()
        due = self.scan_every_s is not None and (
            self._last_scan_s is None or frame.timestamp_s < self._last_scan_s
            or frame.timestamp_s - self._last_scan_s >= self.scan_every_s)
        if no_background or due:
            self._last_scan_s = frame.timestamp_s
            boxes += WholeImageProposer().propose(frame)
        return _largest_first(boxes)


PROPOSERS: dict[str, Callable[..., Proposer]] = {
    "motion": MotionProposer,
    "depth": DepthProposer,
    # the whole image every time: no smallest person, no scans to space out
    "none": lambda min_person_px=0.0, scan_every_s=None: WholeImageProposer(),
}


def make_proposer(name: str, min_person_px: float, scan_every_s: float | None = None) -> Proposer:
    """A proposer by name, with its whole-image scans every `scan_every_s` (None: the proposer's own period);
    the error lists the valid names (`auto` is resolved per frame by the estimator)."""
    try:
        factory = PROPOSERS[name]
    except KeyError:
        raise PoseError(f"unknown proposer {name!r}; valid: auto, {', '.join(PROPOSERS)}") from None
    if scan_every_s is None:
        return factory(min_person_px=min_person_px)
    return factory(min_person_px=min_person_px, scan_every_s=scan_every_s)
