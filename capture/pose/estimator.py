"""Multi-person 3D pose, top-down: follow known people with the landmark model alone, find newcomers from
proposals, merge, lift to metres.

Per frame: every person found in the last frame is looked for in the region their landmarks give (MediaPipe's
own tracking: hip centre, body axis, size), by the landmark model alone, several people at once on a few
threads. A person the model loses there (presence too low) gets one more pass in an upright crop around their
last box, then the Tasks landmarker. Every `propose_every_s` the proposer runs too, and its regions that no
followed person explains are newcomers: first the landmark model alone in an upright crop around the region (a
walking person is upright, so the person detector would give much the same crop at twice the cost), and only
where that finds nobody the Tasks landmarker (its person detector plus the landmark model: it aligns a person
who is bent, lying or off-centre). A region in which neither found anybody is not looked at again while it stays
where it was for `EMPTY_HOLD_S` (a shadow, a moving door, a bag: the proposer keeps offering them). Between two
proposals the proposer does not see the frames: its background learns from the frames it proposes on (a slower
clock, not a wrong one).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from capture.appearance import signature
from capture.boxes import box_iou
from capture.frames import FrameBundle, Intrinsics, Skeleton3D
from capture.pose.bundle import PoseError, check_bundle, default_bundle_path
from capture.pose.faults import FaultLog
from capture.pose.landmarker import FILL, MASK_MARGIN, CropLandmarker, Landmarks
from capture.pose.lift import default_intrinsics, lift_with_depth, lift_without_depth
from capture.pose.pool import LandmarkPool
from capture.pose.proposals import PROPOSERS, Box, Proposer, make_proposer, nms
from capture.pose.roi import Roi, roi_from_box, roi_from_landmarks
from reid.skeleton import MEDIAPIPE_33, confidence_to_canonical, to_canonical

logger = logging.getLogger(__name__)

PROPOSER_NAMES = ("auto", *PROPOSERS)
RETRY_SCALE = 1.4  # side over box height of the upright crop a lost person is looked for in once more
FOLLOW_MARGIN = (0.1, 0.1, 0.1, 0.1)  # left, top, right, bottom of the height, around a followed person's
                                     # last box: how far they may move in a frame
EXPLAINED = 0.5  # a proposal this much covered by a followed person's box is that person, not a newcomer
EMPTY_HOLD_S = 1.0  # a proposal nobody was found in is skipped this long while it stays put (IoU >= EMPTY_IOU)
EMPTY_IOU = 0.7


@dataclass(frozen=True)
class StageTimes:
    """The last estimated frame: seconds per step, regions looked at, and CPU seconds in all pose threads."""

    proposal_s: float
    landmarker_s: float
    lift_s: float
    proposals: int
    followed: int = 0  # regions from the last frame's people (landmark model alone)
    newcomers: int = 0  # proposals no followed person explained, and lost people's boxes
    people: int = 0  # skeletons returned
    cpu_s: float = 0.0
    detected: int = 0  # regions that went through the Tasks landmarker (person detector + landmark model)


class PoseEstimator:
    """Frames in, canonical 20-joint camera-frame skeletons out, for every person found.

    Feed frames in order: `estimate` on the frames that need skeletons, `observe` on the others (at least the
    30-50 frames before the first estimate on a fixed RGB camera, so the background model knows the scene).

    Args:
        bundle_path: the `.task` bundle; default `<home>/models/pose_landmarker_full.task` made by set-up.
        num_poses: most skeletons returned per frame (the best by mean landmark visibility).
        min_person_px: shortest region proposed or followed (pixels); people smaller than this are not looked for.
        proposer: "depth" (depth foreground), "motion" (background subtraction + HOG, fixed RGB camera),
            "none" (whole image: MediaPipe's own detector, people over ~150 px tall), "auto" (depth when the
            frame has depth, else motion), or a `Proposer` of one's own.
        person_height_m: assumed stature for lifting without depth (see `capture.pose.lift`).
        nms_iou: two skeletons whose keypoint boxes overlap more than this are one person.
        min_visibility: skeletons whose mean landmark visibility is below this are dropped.
        min_presence: a followed person whose pose presence (the landmark model's) falls below this is lost.
        crop_scale: side of a newcomer's crop over its proposal's height.
        follow_s: people found at most this long ago are looked for where their landmarks were (so someone
            standing still, faded into the motion background, stays found between HOG scans).
        propose_every_s: seconds between proposals (newcomers); 0 = every frame.
        scan_every_s: seconds between the proposer's whole-image searches for people it cannot see (standing
            still since before it learned the background); None: the proposer's own (depth 5 s, motion 2 s).
        threads: landmark passes at once (people side by side; LiteRT releases the GIL).
    Raises:
        PoseError: missing or unreadable bundle (run `bash scripts/setup.sh`), an unknown proposer, or a
            setting out of range.
    """

    def __init__(self, bundle_path: str | Path | None = None, *, num_poses: int = 16, min_person_px: float = 40.0,
                 proposer: str | Proposer = "auto", person_height_m: float = 1.70, nms_iou: float = 0.4,
                 min_visibility: float = 0.3, min_presence: float = 0.5, crop_scale: float = 1.6,
                 follow_s: float = 0.5, propose_every_s: float = 0.2, scan_every_s: float | None = None,
                 threads: int = 2):
        if not isinstance(proposer, Proposer) and proposer not in PROPOSER_NAMES:
            raise PoseError(f"unknown proposer {proposer!r}; valid: {', '.join(PROPOSER_NAMES)}")
        if num_poses < 1:
            raise PoseError(f"num_poses={num_poses} must be at least 1")
        if not 0.5 <= person_height_m <= 2.5:
            raise PoseError(f"person_height_m={person_height_m} is not a human height (0.5 to 2.5 m)")
        if threads < 1:
            raise PoseError(f"threads={threads} must be at least 1")
        self.bundle_path = check_bundle(Path(bundle_path) if bundle_path is not None else default_bundle_path())
        self.num_poses = num_poses
        self.min_person_px = float(min_person_px)
        self.proposer_name = proposer
        self.person_height_m = person_height_m
        self.nms_iou = nms_iou
        self.min_visibility = min_visibility
        self.min_presence = min_presence
        self.follow_s = follow_s
        self.propose_every_s = propose_every_s
        self.scan_every_s = scan_every_s
        self.faults = FaultLog()
        # (timestamp_s, [(region, grown keypoint box)]) of the people of the last estimate
        self._followed: tuple[float, list[tuple[Roi, Box]]] | None = None
        self._last_proposal_s: float | None = None
        self._empty: list[tuple[float, Box]] = []  # (when, proposal) regions in which nobody was found
        self._size: tuple[int, int] | None = None
        self._proposers: dict[str, Proposer] = {}
        self._crop = CropLandmarker(self.bundle_path, num_poses=1, crop_scale=crop_scale)
        self._whole: CropLandmarker | None = None  # made on first whole-image proposal (several people per call)
        self._pool = LandmarkPool(threads, self.faults)
        self.last_times = StageTimes(0.0, 0.0, 0.0, 0)
        self._closed = False

    def proposer_for(self, frame: FrameBundle) -> Proposer:
        """The proposer used for this frame (`auto`: depth when the frame has depth, else motion)."""
        name = self.proposer_name
        if isinstance(name, Proposer):
            return name
        if name == "auto":
            name = "depth" if frame.depth_m is not None else "motion"
        if name not in self._proposers:
            self._proposers[name] = make_proposer(name, self.min_person_px, self.scan_every_s)
        return self._proposers[name]

    def observe(self, frame: FrameBundle) -> None:
        """Let the proposer learn the background from a frame that is not estimated."""
        if frame.color is None:
            return
        self.proposer_for(frame).observe(frame)

    def estimate(self, frame: FrameBundle) -> list[Skeleton3D]:
        """Skeletons of the people in `frame`, best first.

        Raises:
            PoseError: the frame has no color image.
        """
        if self._closed:
            raise PoseError("this PoseEstimator was closed; make a new one")
        if frame.color is None:
            raise PoseError(f"frame {frame.index} has no color image; pose estimation needs one (sources that "
                            "already carry skeletons skip pose)")
        cpu0, workers0 = time.thread_time(), self._pool.worker_cpu_s
        t0 = time.perf_counter()
        h, w = frame.color.shape[:2]
        if self._size is not None and self._size != (h, w):
            self.faults.note("frame_size", f"frame {frame.index} is {w}x{h}, the stream was "
                                           f"{self._size[1]}x{self._size[0]}; people are looked for afresh")
            self._followed, self._last_proposal_s, self._empty = None, None, []
        self._size = (h, w)
        followed, lost = self._follow(frame)
        t1 = time.perf_counter()
        proposed = self._proposals(frame, followed)
        t2 = time.perf_counter()
        newcomers, detected = self._newcomers(frame, lost, proposed, followed)
        people = self._merge(followed + newcomers)
        t3 = time.perf_counter()
        skeletons = [s for s in (self._skeleton(frame, p) for p in people) if s is not None]
        self._followed = (frame.timestamp_s, [(roi, _grown(p.box)) for p in people
                                              if (roi := self._usable(p.next_roi, w, h)) is not None])
        cpu = time.thread_time() - cpu0 + self._pool.worker_cpu_s - workers0
        boxes = len(lost) + len(proposed)
        self.last_times = StageTimes(t2 - t1, (t1 - t0) + (t3 - t2), time.perf_counter() - t3, boxes,
                                     len(followed), boxes, len(skeletons), cpu, detected=detected)
        return skeletons

    def _follow(self, frame: FrameBundle) -> tuple[list[Landmarks], list[Box]]:
        """The last estimate's people, each looked for by the landmark model alone: in the region their
        landmarks gave, then, for those it loses (presence too low: small people are sensitive to the crop), in
        an upright crop around their last box. Returns those found, and the last boxes of those still lost, to
        look for again as newcomers at once."""
        if self._followed is None or not 0.0 < frame.timestamp_s - self._followed[0] <= self.follow_s:
            return [], []
        found, lost = self._pass(frame.color, self._followed[1])
        if lost:
            retried, lost = self._pass(frame.color, [(roi_from_box(box, RETRY_SCALE), box) for box in lost])
            found += retried
        return found, lost

    def _pass(self, image: np.ndarray, regions: list[tuple[Roi, Box]],
              margin: tuple[float, float, float, float] = FOLLOW_MARGIN) -> tuple[list[Landmarks], list[Box]]:
        """One landmark pass per (region, box), the crop grey outside the box plus `margin`; returns the people
        found and the boxes in which nobody was."""
        found, lost = [], []
        masked = [(roi, _widened(box, margin)) for roi, box in regions]
        for (_, box), result in zip(regions, self._pool.run(image, masked)):
            if result is not None and result[1] >= self.min_presence:
                found.append(result[0])
            else:
                lost.append(box)
        return found, lost

    def _usable(self, roi: Roi | None, width: int, height: int) -> Roi | None:
        """The region to follow a person in next frame, or None if it is degenerate, tiny or off the image."""
        if roi is None:
            return None
        if not np.isfinite([roi.cx, roi.cy, roi.side, roi.angle]).all():
            self.faults.note("bad_region", "the landmark model gave a non-finite region; that person is looked "
                                           "for by proposals again")
            return None
        if roi.side < self.min_person_px:  # walked away below the smallest person looked for
            return None
        inside = roi.overlap(width, height)
        if inside < 0.25:  # walked out of the image
            return None
        if inside < 1.0:
            self.faults.note("partly_outside", "a person's region reaches past the image border; the part "
                                               "outside is filled with the border pixels")
        return roi

    def _proposals(self, frame: FrameBundle, followed: list[Landmarks]) -> list[Box]:
        """When due, the proposer's regions that no followed person explains and that are not too small."""
        last = self._last_proposal_s
        if last is not None and 0.0 <= frame.timestamp_s - last < self.propose_every_s - 1e-9:
            return []
        self._last_proposal_s = frame.timestamp_s
        boxes = []
        for box in self.proposer_for(frame).propose(frame):
            if min(box[2] - box[0], box[3] - box[1]) < max(2.0, 0.25 * self.min_person_px):
                self.faults.note("tiny_region", f"a {box[2] - box[0]:.0f}x{box[3] - box[1]:.0f} px proposal is "
                                                "too small to hold a person; skipped")
                continue
            boxes.append(box)
        self._empty = [(t, b) for t, b in self._empty if 0.0 <= frame.timestamp_s - t <= EMPTY_HOLD_S]
        if self._empty and boxes:  # regions nobody was found in a moment ago, still in the same place
            held = box_iou(np.array(boxes), np.array([b for _, b in self._empty])).max(axis=1) >= EMPTY_IOU
            boxes = [b for b, skip in zip(boxes, held) if not skip]
        if not boxes or not followed:
            return boxes
        covered = _covered(np.array(boxes), np.array([_grown(p.box) for p in followed]))
        return [b for b, c in zip(boxes, covered) if c < EXPLAINED]

    def _newcomers(self, frame: FrameBundle, lost: list[Box], proposed: list[Box],
                   followed: list[Landmarks]) -> tuple[list[Landmarks], int]:
        """People in the boxes of the lost (they already had a landmark-model pass in `_follow`) and in
        unexplained proposals (first the landmark model alone, upright, several at once); what is still missed
        goes through the Tasks landmarker (detector + landmark model). A whole-image proposal looks only where
        nobody is followed: the followed are greyed out, so the landmarker spends no landmark pass on them.
        Returns the people and the Tasks calls made."""
        bgr = frame.color
        h, w = bgr.shape[:2]
        whole = [b for b in proposed if b[2] - b[0] >= 0.95 * w and b[3] - b[1] >= 0.95 * h]
        parts = [b for b in proposed if b not in whole]
        found, missed = self._pass(bgr, [(roi_from_box(b, RETRY_SCALE), b) for b in parts], MASK_MARGIN)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if lost or missed or whole else None
        if whole:
            if self._whole is None:
                self._whole = CropLandmarker(self.bundle_path, num_poses=self.num_poses)
            unknown = rgb.copy() if followed else rgb
            for x0, y0, x1, y1 in (_grown(p.box) for p in followed):
                unknown[max(0, int(y0)):max(0, int(np.ceil(y1))), max(0, int(x0)):max(0, int(np.ceil(x1)))] = FILL
            found += self._whole.detect(unknown)
        for box in lost:
            found += self._crop.detect(rgb, box)
        for box in missed:
            people = self._crop.detect(rgb, box)
            if not people:
                self._empty.append((frame.timestamp_s, box))
            found += people
        return ([replace(p, next_roi=roi_from_landmarks(p.keypoints)) for p in found],
                len(whole) + len(lost) + len(missed))

    def _merge(self, found: list[Landmarks]) -> list[Landmarks]:
        """Confident people, duplicates merged (NMS on keypoint boxes), best first."""
        found = [p for p in found if p.score >= self.min_visibility]
        if not found:
            return []
        keep = nms(np.array([p.box for p in found]), np.array([p.score for p in found]), self.nms_iou)
        return [found[i] for i in keep[:self.num_poses]]

    def _skeleton(self, frame: FrameBundle, person: Landmarks) -> Skeleton3D | None:
        h, w = frame.color.shape[:2]
        intr = frame.intrinsics if frame.intrinsics is not None else default_intrinsics(w, h)
        joints, conf = self._lift(frame, person, intr)
        if joints is None:
            return None
        keypoints = np.concatenate([person.keypoints, np.zeros((len(person.keypoints), 1))], axis=1)
        x0, y0, x1, y1 = person.box
        box = (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))
        valid = box[0] <= box[2] and box[1] <= box[3]
        return Skeleton3D(joints=to_canonical(joints, MEDIAPIPE_33, "MediaPipe landmarks"),
                          confidence=confidence_to_canonical(np.clip(conf, 0.0, 1.0), MEDIAPIPE_33),
                          box=box if valid else None, timestamp_s=frame.timestamp_s, frame_index=frame.index,
                          keypoints_2d=to_canonical(keypoints, MEDIAPIPE_33)[:, :2],
                          appearance=signature(frame.color, box) if valid else None)

    def _lift(self, frame: FrameBundle, person: Landmarks,
              intr: Intrinsics) -> tuple[np.ndarray | None, np.ndarray]:
        """(33, 3) metres and (33,) confidence: visibility x depth validity, or visibility alone without depth."""
        if frame.depth_m is not None:
            lifted = lift_with_depth(person.keypoints, person.visibility, person.world, frame.depth_m, intr)
            if lifted is not None:
                return lifted[0], person.visibility * lifted[1]
            logger.debug("frame %d: a person stands on a depth hole; lifting by assumed height", frame.index)
        joints = lift_without_depth(person.keypoints, person.world, intr, person_height_m=self.person_height_m)
        return joints, person.visibility

    def close(self) -> None:
        """Release the MediaPipe graphs and the landmark threads; closing twice is harmless."""
        self._closed = True
        self._pool.close()
        self._crop.close()
        if self._whole is not None:
            self._whole.close()
            self._whole = None

    def __enter__(self) -> "PoseEstimator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _grown(box: Box) -> Box:
    """A keypoint box grown to the whole person: keypoints stop at the eyes and the heels, inside the outline."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    return x0 - 0.1 * h, y0 - 0.1 * h, x1 + 0.1 * h, y1 + 0.05 * h


def _covered(boxes: np.ndarray, by: np.ndarray) -> np.ndarray:
    """(N,) the largest share of each of (N, 4) boxes' area inside one of (M, 4) boxes."""
    lo = np.maximum(boxes[:, None, :2], by[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], by[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)  # (N, M)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1e-9, None), axis=-1)
    return (inter / area[:, None]).max(axis=1)


def _widened(box: Box, margin: tuple[float, float, float, float]) -> Box:
    """`box` grown by (left, top, right, bottom) shares of its height."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    return x0 - margin[0] * h, y0 - margin[1] * h, x1 + margin[2] * h, y1 + margin[3] * h
