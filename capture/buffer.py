"""Per-track sliding windows of f frames for the encoder, at the encoder's frame rate, normalised as in training.

Each track's assigned skeletons form segments of consecutive frames. Windows keep the rate the encoder was
trained at (`fps`, 30 by default, the synthetic walkers' rate): a segment is resampled by timestamp, each
sample a linear interpolation of the two observed frames around it, so a 10 fps video and a 30 fps camera
both give windows spanning the same time (at equal rates the samples are the observed frames). A sample made
across missed source frames, inside a gap of at most `max_gap_s`, is flagged in `Window.filled`; a longer gap,
f or more missed frames in a row (a window would be all made up), or any missed frame when interpolation is
off, ends the segment, so no window ever spans it. The first window of a segment is emitted when it holds f
samples, then one every `stride` new samples. When a segment ends (a long gap, the track lost or deleted) its
last f samples are emitted once more if some of them were never in a window, and its memory is freed.

A joint that is missing (NaN) or unsure (confidence under `min_joint_confidence`: MediaPipe's feet and wrists
on small people) in some frames of a window is filled from its sure frames, as `reid.datasets.repair` does for
datasets; a joint with no sure frame keeps its unsure positions; only a joint never placed at all refuses the
window. `stats` counts what was made, filled and refused, and why (`capture.stats.BufferStats`).

Coordinates: skeletons arrive in the camera frame (x right, y down, z forward, right-handed: RealSense and
OpenCV), the model was trained in Kinect camera space (x towards the sensor's left, y up, z forward, also
right-handed). `camera_to_model` is the one place that converts: a half turn about the optical axis, (x, y, z)
-> (-x, -y, z). Flipping y alone would mirror the body (its left side would sit where a right side is), a
skeleton the model never saw; the Kinect v2 UCalgary files confirm the handedness: for a person walking
towards the sensor ShoulderLeft.x < ShoulderRight.x there. Windows are then root-centred on HipCenter per frame
(`reid.skeleton.root_centre`, spec §1.1).
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import numpy as np

from capture.stats import BufferStats
from capture.tracking import TrackEvent, TrackState, TrackUpdate
from core.errors import SkelwatchError
from reid.skeleton import ROOT_JOINT, root_centre

if TYPE_CHECKING:
    from capture.frames import Skeleton3D

logger = logging.getLogger(__name__)

CAMERA_TO_MODEL = np.array([-1.0, -1.0, 1.0], dtype=np.float32)  # per-axis signs, module docstring


def camera_to_model(joints: np.ndarray) -> np.ndarray:
    """(..., V, 3) camera-frame joints -> the training convention (Kinect camera space), float32."""
    return np.asarray(joints, dtype=np.float32) * CAMERA_TO_MODEL


class BufferError(SkelwatchError):
    """The window buffer was given unusable settings or frames out of order."""


@dataclass(frozen=True)
class Window:
    """f frames of one track, ready for the encoder."""

    track_id: int
    data: np.ndarray  # (f, 20, 3) float32, training convention, root-centred per frame
    t_start_s: float
    t_end_s: float
    frame_indices: np.ndarray  # (f,) int64
    raw: np.ndarray  # (f, 20, 3) float32, training convention, not centred: data == root_centre(raw)
    filled: np.ndarray  # (f,) bool, True for a frame made by interpolation


_SAME_TIME_S = 1e-6  # a sample this close to an observed frame is that frame
MIN_SURE_SHARE = 0.5  # a skeleton with fewer sure joints than this share is not placed in a window


@dataclass
class _Segment:
    """The last f samples of one track's current run of frames, and the last observed frame."""

    frames: int
    next_t: float  # time of the next sample
    index: deque[int] = field(default_factory=deque)
    time: deque[float] = field(default_factory=deque)
    joints: deque[np.ndarray] = field(default_factory=deque)  # each (20, 3) float32, training convention
    sure: deque[np.ndarray] = field(default_factory=deque)  # each (20,) bool
    filled: deque[bool] = field(default_factory=deque)
    unsent: int = 0  # samples added since the last window
    sent_any: bool = False
    last: tuple[int, float, np.ndarray, np.ndarray] | None = None  # observed index, time, joints, sure

    def add(self, index: int, time: float, joints: np.ndarray, sure: np.ndarray, filled: bool) -> None:
        for queue, value in ((self.index, index), (self.time, time), (self.joints, joints), (self.sure, sure),
                             (self.filled, filled)):
            queue.append(value)
            if len(queue) > self.frames:
                queue.popleft()
        self.unsent += 1


class WindowBuffer:
    """Turns tracker output into windows (module docstring for the rules).

    Args:
        frames: window length f (the model's `frames`).
        stride: new samples between two windows of one track.
        max_gap_s: longest gap (seconds between two assigned skeletons) a window may span.
        interpolate: fill missed frames of short gaps; if False any missed frame ends the segment.
        max_pending: windows kept for `drain`; beyond it the oldest are dropped and counted.
        fps: the encoder's frame rate; windows are resampled to it. None keeps the source's frames as they come.
        min_joint_confidence: joints below it are filled from their sure frames.
    Raises:
        BufferError: for settings out of range.
    """

    def __init__(self, frames: int = 6, stride: int = 3, max_gap_s: float = 0.2, interpolate: bool = True,
                 max_pending: int = 256, fps: float | None = 30.0, min_joint_confidence: float = 0.3) -> None:
        if frames < 2 or stride < 1 or max_gap_s < 0.0 or max_pending < 1 or (fps is not None and not fps > 0):
            raise BufferError(f"window buffer: frames={frames} (>= 2), stride={stride} (>= 1), "
                              f"max_gap_s={max_gap_s} (>= 0), max_pending={max_pending} (>= 1), fps={fps} (> 0 or "
                              f"None); fix the one out of range")
        self.frames, self.stride, self.max_gap_s, self.interpolate = frames, stride, max_gap_s, interpolate
        self.period_s = None if fps is None else 1.0 / fps
        self.min_joint_confidence = min_joint_confidence
        self.stats = BufferStats()
        self._segments: dict[int, _Segment] = {}
        self._pending: deque[Window] = deque(maxlen=max_pending)

    @property
    def dropped(self) -> int:
        """Windows dropped because the encoder fell behind."""
        return self.stats.dropped

    @property
    def skipped(self) -> int:
        """Windows not made because a joint was missing in every frame."""
        return self.stats.refused_missing_joints

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def track_ids(self) -> list[int]:
        """Tracks that currently hold frames."""
        return list(self._segments)

    def update(self, updates: Iterable[TrackUpdate], events: Iterable[TrackEvent] = ()) -> None:
        """Feed one frame of tracker output: `tracker.update(...)` and then `tracker.pop_events()`.

        A "reacquired" event hands the tentative id's frames to the lost track that came back; lost and deleted
        tracks are flushed and freed; a coasting track unseen for longer than `max_gap_s` is flushed.
        """
        for event in events:
            if event.kind == "reacquired" and event.other_id in self._segments:
                self.end(event.track_id)
                self._segments[event.track_id] = self._segments.pop(event.other_id)
        for upd in updates:
            if upd.state in (TrackState.LOST, TrackState.DELETED):
                self.end(upd.track_id)
            elif upd.skeleton is not None:
                self.push(upd.track_id, upd.skeleton)
            elif upd.time_since_update_s > self.max_gap_s:
                self.end(upd.track_id)

    def push(self, track_id: int, skeleton: Skeleton3D) -> None:
        """Add one assigned skeleton of `track_id`; one whose root joint is not finite, or with too few sure
        joints, counts as missed.

        Raises:
            BufferError: when its frame index is not after the track's previous one.
        """
        joints = camera_to_model(skeleton.joints)  # (20, 3)
        sure = (skeleton.confidence >= self.min_joint_confidence) & np.isfinite(joints).all(axis=1)
        if not np.isfinite(joints[ROOT_JOINT]).all() or sure.mean() < MIN_SURE_SHARE:
            self.stats.refused_low_confidence += 1
            return
        self.stats.frames_in += 1
        seg = self._segments.get(track_id)
        index, time = int(skeleton.frame_index), float(skeleton.timestamp_s)
        if seg is not None and seg.last is not None:
            last_index, last_time = seg.last[0], seg.last[1]
            if index <= last_index:
                raise BufferError(f"window buffer: track {track_id} got frame {index} after frame {last_index}; "
                                  f"feed each track's frames in order")
            missed = index - last_index - 1
            if time - last_time > self.max_gap_s + _SAME_TIME_S or (missed and not self.interpolate) \
                    or missed >= self.frames:
                self.stats.refused_gap += 1
                self.end(track_id)
                seg = None
        if seg is None:
            seg = self._segments[track_id] = _Segment(self.frames, next_t=time)
        self._sample(track_id, seg, index, time, joints, sure)

    def end(self, track_id: int) -> None:
        """Close `track_id`'s segment: emit its unsent tail as one last window, then free it."""
        seg = self._segments.pop(track_id, None)
        if seg is None:
            return
        if len(seg.index) == self.frames and seg.unsent > 0:
            self._emit(track_id, seg)
        elif not seg.sent_any:
            self.stats.refused_too_short += 1

    def drain(self, max_batch: int) -> list[Window]:
        """Up to `max_batch` waiting windows, oldest first (stack their `data` for the encoder)."""
        return [self._pending.popleft() for _ in range(min(max_batch, len(self._pending)))]

    def _sample(self, track_id: int, seg: _Segment, index: int, time: float, joints: np.ndarray,
                sure: np.ndarray) -> None:
        """Add the samples due up to the observed frame (index, time): the frame itself without resampling,
        else every sample time up to `time`, interpolated from the previous observed frame."""
        previous, seg.last = seg.last, (index, time, joints, sure)
        if previous is None or self.period_s is None:
            missed = 0 if previous is None else index - previous[0] - 1
            if missed:
                self._fill(track_id, seg, previous, missed)
            seg.add(index, time, joints, sure, False)
            self._maybe_emit(track_id, seg)
            seg.next_t = time + (self.period_s or 0.0)
            return
        last_index, last_time, last_joints, last_sure = previous
        span = time - last_time
        across_miss = index - last_index > 1
        while seg.next_t <= time + _SAME_TIME_S:
            w = min(max((seg.next_t - last_time) / span, 0.0), 1.0) if span > 0 else 1.0
            at_frame = abs(seg.next_t - time) <= _SAME_TIME_S or w >= 1.0
            if at_frame:
                sample, sample_sure = joints, sure
            else:
                sample = last_joints + np.float32(w) * (joints - last_joints)
                sample_sure = last_sure & sure
            filled = across_miss and not at_frame
            self.stats.frames_filled += filled
            seg.add(last_index + int(round(w * (index - last_index))), seg.next_t, sample, sample_sure, filled)
            self._maybe_emit(track_id, seg)
            seg.next_t += self.period_s

    def _fill(self, track_id: int, seg: _Segment, previous: tuple[int, float, np.ndarray, np.ndarray],
              missed: int) -> None:
        """Without resampling: add `missed` frames interpolated between the previous and the arriving frame."""
        last_index, last_time, last_joints, last_sure = previous
        index, time, joints, sure = seg.last
        for k in range(1, missed + 1):
            w = k / (missed + 1)
            seg.add(last_index + k, last_time + w * (time - last_time), last_joints + w * (joints - last_joints),
                    last_sure & sure, True)
            self.stats.frames_filled += 1
            self._maybe_emit(track_id, seg)

    def _maybe_emit(self, track_id: int, seg: _Segment) -> None:
        if len(seg.index) == self.frames and (seg.unsent >= self.stride or not seg.sent_any):
            self._emit(track_id, seg)

    def _emit(self, track_id: int, seg: _Segment) -> None:
        seg.unsent, seg.sent_any = 0, True
        raw, filled = fill_joints(np.stack(seg.joints), np.stack(seg.sure))  # (f, 20, 3)
        if raw is None:
            self.stats.refused_missing_joints += 1
            logger.debug("track %d: window ending at frame %d skipped, a joint is never finite", track_id,
                         seg.index[-1])
            return
        self.stats.joints_filled += filled
        self.stats.windows += 1
        if len(self._pending) == self._pending.maxlen:
            self.stats.dropped += 1
            if self.stats.dropped == 1:
                logger.warning("window buffer full (%d): dropping the oldest windows; the encoder is behind",
                               self._pending.maxlen)
        self._pending.append(Window(track_id, root_centre(raw), seg.time[0], seg.time[-1],
                                    np.fromiter(seg.index, dtype=np.int64, count=self.frames), raw,
                                    np.fromiter(seg.filled, dtype=bool, count=self.frames)))


def fill_joints(raw: np.ndarray, sure: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Fill each joint's unsure or missing frames by linear interpolation in time over its sure frames.

    A joint with no sure frame keeps its finite (unsure) positions, interpolated over its non-finite ones.
    Args:
        raw: (f, 20, 3) joints; sure: (f, 20) bool.
    Returns:
        The filled (f, 20, 3) joints (a copy when anything changed) and how many (frame, joint) were filled;
        (None, 0) when some joint is not finite in any frame (nothing to fill it from).
    """
    finite = np.isfinite(raw).all(axis=2)  # (f, 20)
    usable = sure & finite
    usable = np.where(usable.any(axis=0), usable, finite)  # a joint never sure keeps what was placed
    if usable.all():
        return raw, 0
    if not usable.any(axis=0).all():
        return None, 0
    out = raw.copy()
    steps = np.arange(len(raw))
    for j in np.flatnonzero(~usable.all(axis=0)):
        ok = usable[:, j]
        for d in range(3):
            out[:, j, d] = np.interp(steps, steps[ok], raw[ok, j, d])
    return out, int((~usable).sum())
