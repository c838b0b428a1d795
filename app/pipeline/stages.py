"""The first two workers: the source (paced, live frames dropped oldest first) and pose (cache, truth or estimate).

    SourceWorker --frames--> PoseWorker --skeletons--> TrackWorker (track_stage) --windows--> EncodeWorker

Every queue is bounded. The source is the only place where a frame may be dropped (live sources, oldest first);
downstream of it every put blocks, so replay is deterministic frame by frame.
"""
from __future__ import annotations

import logging
import queue
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from app.pipeline.control import PlaybackControl
from app.pipeline.seams import Estimator
from app.pipeline.workers import END, RESET, ErrorHandler, Marker, Worker, get, put, put_drop_oldest
from core.errors import SkelwatchError

if TYPE_CHECKING:
    from capture.frames import FrameBundle, Skeleton3D
    from capture.sources import Source

logger = logging.getLogger(__name__)


class SourceWorker(Worker):
    """Reads the source at its own pace (live) or the playback pace (replay) and feeds the pose queue.

    Live sources drop the oldest waiting frame when pose falls behind (`dropped` counts them); replay blocks.
    With `hold_at_end` the end of a replay pauses instead of ending the stream, so a seek can play it again.
    """

    def __init__(self, source: Source, out: queue.Queue, control: PlaybackControl, drop_oldest: bool,
                 max_seconds: float | None, hold_at_end: bool, on_error: ErrorHandler) -> None:
        super().__init__("source", on_error)
        self.hold_at_end = hold_at_end
        self.at_end = False
        self.source, self.out, self.control = source, out, control
        self.drop_oldest = drop_oldest and source.is_live
        self.max_seconds = max_seconds
        self.dropped = 0
        self.frames = 0
        self.last_index = -1  # the newest frame handed over
        self._first_s: float | None = None

    def run(self) -> None:
        frames = iter(self.source)
        while self.control.wait_turn(self.stop_event):
            target = self.control.take_seek()
            if target is not None:
                try:
                    self.source.seek(target)
                except SkelwatchError as exc:  # a medium that cannot seek: keep playing where it is
                    logger.warning("seek to %.3f s ignored: %s", target, exc)
                else:
                    self.at_end = False
                    frames = iter(self.source)
                    put(self.out, RESET, self.stop_event)
            start = time.perf_counter()
            bundle = next(frames, None)
            self.busy_s += time.perf_counter() - start
            if self._first_s is None and bundle is not None:
                self._first_s = bundle.timestamp_s
            if bundle is None or self._past_limit(bundle.timestamp_s):
                if self.hold_at_end:  # the GUI's replay: wait at the end for a seek (or stop)
                    self.at_end = True
                    self.control.pause()
                    continue
                put(self.out, END, self.stop_event)
                self.ended = True
                return
            self.control.pace(bundle.timestamp_s, self.stop_event)
            self.frames += 1
            self.last_index = bundle.index
            if self.drop_oldest:
                self.dropped += put_drop_oldest(self.out, bundle)
            else:
                put(self.out, bundle, self.stop_event)

    def _past_limit(self, timestamp_s: float) -> bool:
        return self.max_seconds is not None and timestamp_s - self._first_s >= self.max_seconds - 1e-9

    def close(self) -> None:
        self.source.close()


def skeletons_from_truth(bundle: FrameBundle) -> list[Skeleton3D]:
    """Skeletons handed over with the frame, fully confident; projected to pixels when the frame has intrinsics."""
    from capture.frames import Skeleton3D

    out = []
    intr = bundle.intrinsics
    for truth in bundle.truth:
        joints = np.asarray(truth.joints, dtype=np.float32)  # (20, 3) camera frame metres
        keypoints, box = None, None
        if intr is not None and (joints[:, 2] > 0.05).all():
            keypoints = intr.project(joints).astype(np.float32)  # (20, 2) pixels
            lo, hi = keypoints.min(axis=0), keypoints.max(axis=0)
            box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        out.append(Skeleton3D(joints=joints, confidence=np.ones(len(joints), dtype=np.float32), box=box,
                              timestamp_s=bundle.timestamp_s, frame_index=bundle.index, keypoints_2d=keypoints))
    return out


class PoseWorker(Worker):
    """Turns frames into skeletons: from the skeleton cache, from the frame's truth, or by running pose.

    `skeletons_given` says the source hands over every person's skeleton with its frames (the synthetic scene, a
    recording with a truth sidecar): pose never runs then, not even on a frame without anyone. Frames without
    an image (skeleton files, a cache-only replay) never run pose either.

    The estimator is built on this thread by `make_estimator` the first time a frame needs it, so a replay served
    entirely from the cache never loads MediaPipe.
    """

    def __init__(self, make_estimator: Callable[[], Estimator] | None, cache: dict[int, list[Skeleton3D]] | None,
                 skeletons_given: bool, inp: queue.Queue, out: queue.Queue, on_error: ErrorHandler) -> None:
        super().__init__("pose", on_error)
        self.make_estimator, self.cache, self.skeletons_given = make_estimator, cache or {}, skeletons_given
        self.inp, self.out = inp, out
        self.estimator: Estimator | None = None
        self.cache_hits = 0
        self.estimated = 0
        self.stage_s: dict[str, float] = {}  # pose's own split of its time (proposal, landmarker, lift)
        self.load_s = 0.0  # building the estimator (loading MediaPipe), kept out of the per-frame figures

    def skeletons_for(self, bundle: FrameBundle) -> list[Skeleton3D]:
        """The frame's skeletons: cached, given with the frame (synthetic scene, skeleton files), or estimated."""
        cached = self.cache.get(bundle.index)
        if cached is not None:
            self.cache_hits += 1
            return cached
        if bundle.truth or self.skeletons_given or bundle.color is None or self.make_estimator is None:
            # A source that hands over skeletons lists every person, so an empty frame means nobody.
            return skeletons_from_truth(bundle)
        if self.estimator is None:
            start = time.perf_counter()
            self.estimator = self.make_estimator()
            self.load_s += time.perf_counter() - start
        self.estimated += 1
        skeletons = list(self.estimator.estimate(bundle))
        parts = self.estimator.last_times  # the split of its time, for the benchmark
        for stage, seconds in (("proposal", parts.proposal_s), ("landmarker", parts.landmarker_s),
                               ("lift", parts.lift_s)):
            self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds
        return skeletons

    def run(self) -> None:
        while True:
            item = get(self.inp, self.stop_event)
            if isinstance(item, Marker):
                put(self.out, item, self.stop_event)
                if item is END:
                    self.ended = True
                    return
                continue
            start, loading = time.perf_counter(), self.load_s
            skeletons = self.skeletons_for(item)
            self.busy_s += time.perf_counter() - start - (self.load_s - loading)
            put(self.out, (item, skeletons), self.stop_event)

    def close(self) -> None:
        close = getattr(self.estimator, "close", None)
        if close is not None:
            close()
