"""Multi-person 3D pose, top-down: propose person regions, run the landmarker per crop, merge, lift to metres."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from capture.frames import FrameBundle, Intrinsics, Skeleton3D
from capture.pose.bundle import PoseError, check_bundle, default_bundle_path
from capture.pose.landmarker import CropLandmarker, Landmarks
from capture.pose.lift import default_intrinsics, lift_with_depth, lift_without_depth
from capture.pose.proposals import PROPOSERS, Box, Proposer, box_iou, make_proposer, nms
from reid.skeleton import MEDIAPIPE_33, confidence_to_canonical, to_canonical

logger = logging.getLogger(__name__)

PROPOSER_NAMES = ("auto", *PROPOSERS)


@dataclass(frozen=True)
class StageTimes:
    """Seconds spent on the last estimated frame, for benchmarks and the status line."""

    proposal_s: float
    landmarker_s: float
    lift_s: float
    proposals: int


class PoseEstimator:
    """Frames in, canonical 20-joint camera-frame skeletons out, for every person found.

    Feed frames in order: `estimate` on the frames that need skeletons, `observe` on the others (at least the
    30-50 frames before the first estimate on a fixed RGB camera, so the background model knows the scene).

    Args:
        bundle_path: the `.task` bundle; default `<home>/models/pose_landmarker_full.task` made by set-up.
        num_poses: most skeletons returned per frame (the best by mean landmark visibility).
        min_person_px: shortest region proposed (pixels); people smaller than this are not looked for.
        proposer: "depth" (depth foreground), "motion" (background subtraction + HOG, fixed RGB camera),
            "none" (whole image: MediaPipe's own detector, people over ~150 px tall), or "auto" (depth when the
            frame has depth, else motion).
        person_height_m: assumed stature for lifting without depth (see `capture.pose.lift`).
        nms_iou: two skeletons whose keypoint boxes overlap more than this are one person.
        min_visibility: skeletons whose mean landmark visibility is below this are dropped.
        carry_s: people found by the last estimate at most this long ago are looked for again where they were,
            so someone standing still (faded into the motion background) stays found between HOG scans.
    Raises:
        PoseError: missing or unreadable bundle (run `bash scripts/setup.sh`), or an unknown proposer.
    """

    def __init__(self, bundle_path: str | Path | None = None, *, num_poses: int = 16, min_person_px: float = 40.0,
                 proposer: str = "auto", person_height_m: float = 1.70, nms_iou: float = 0.4,
                 min_visibility: float = 0.3, carry_s: float = 0.5):
        if proposer not in PROPOSER_NAMES:
            raise PoseError(f"unknown proposer {proposer!r}; valid: {', '.join(PROPOSER_NAMES)}")
        if num_poses < 1:
            raise PoseError(f"num_poses={num_poses} must be at least 1")
        if not 0.5 <= person_height_m <= 2.5:
            raise PoseError(f"person_height_m={person_height_m} is not a human height (0.5 to 2.5 m)")
        self.bundle_path = check_bundle(Path(bundle_path) if bundle_path is not None else default_bundle_path())
        self.num_poses = num_poses
        self.min_person_px = float(min_person_px)
        self.proposer_name = proposer
        self.person_height_m = person_height_m
        self.nms_iou = nms_iou
        self.min_visibility = min_visibility
        self.carry_s = carry_s
        self._carried: tuple[float, list[Box]] | None = None  # (timestamp_s, boxes) of the last estimate
        self._proposers: dict[str, Proposer] = {}
        self._crop = CropLandmarker(self.bundle_path, num_poses=1)
        self._whole: CropLandmarker | None = None  # made on first whole-image proposal (several people per call)
        self.last_times = StageTimes(0.0, 0.0, 0.0, 0)
        self._closed = False

    def proposer_for(self, frame: FrameBundle) -> Proposer:
        """The proposer used for this frame (`auto`: depth when the frame has depth, else motion)."""
        name = self.proposer_name
        if name == "auto":
            name = "depth" if frame.depth_m is not None else "motion"
        if name not in self._proposers:
            self._proposers[name] = make_proposer(name, self.min_person_px)
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
        t0 = time.perf_counter()
        boxes = self.proposer_for(frame).propose(frame)
        boxes += self._carried_boxes(frame.timestamp_s, boxes)
        t1 = time.perf_counter()
        rgb = cv2.cvtColor(frame.color, cv2.COLOR_BGR2RGB)
        people = self._landmarks(rgb, boxes)
        t2 = time.perf_counter()
        skeletons = [s for s in (self._skeleton(frame, p) for p in people) if s is not None]
        self._carried = (frame.timestamp_s, [_grown(s.box) for s in skeletons if s.box is not None])
        self.last_times = StageTimes(t1 - t0, t2 - t1, time.perf_counter() - t2, len(boxes))
        return skeletons

    def _carried_boxes(self, timestamp_s: float, proposed: list[Box]) -> list[Box]:
        """Last estimate's people not already covered by a proposal, if that estimate is recent."""
        if self._carried is None or not 0.0 < timestamp_s - self._carried[0] <= self.carry_s:
            return []
        carried = self._carried[1]
        if not carried or not proposed:
            return list(carried)
        overlap = box_iou(np.array(carried), np.array(proposed)).max(axis=1)
        return [b for b, o in zip(carried, overlap) if o < 0.5]

    def _landmarks(self, rgb: np.ndarray, boxes: list[Box]) -> list[Landmarks]:
        """Landmarks of every proposal, duplicates merged (NMS on keypoint boxes), best first."""
        h, w = rgb.shape[:2]
        found: list[Landmarks] = []
        for box in boxes:
            if box[2] - box[0] >= 0.95 * w and box[3] - box[1] >= 0.95 * h:
                if self._whole is None:
                    self._whole = CropLandmarker(self.bundle_path, num_poses=self.num_poses)
                found += self._whole.detect(rgb)
            else:
                found += self._crop.detect(rgb, box)
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
        return Skeleton3D(joints=to_canonical(joints, MEDIAPIPE_33, "MediaPipe landmarks"),
                          confidence=confidence_to_canonical(np.clip(conf, 0.0, 1.0), MEDIAPIPE_33),
                          box=box if box[0] <= box[2] and box[1] <= box[3] else None,
                          timestamp_s=frame.timestamp_s, frame_index=frame.index,
                          keypoints_2d=to_canonical(keypoints, MEDIAPIPE_33)[:, :2])

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
        """Release the MediaPipe graphs; closing twice is harmless."""
        self._closed = True
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
