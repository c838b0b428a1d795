"""Per-track sliding windows of f frames for the encoder, normalised exactly as in training.

Each track's assigned skeletons form segments of consecutive frames. A missed frame inside a gap of at most
`max_gap_s` is filled by linear interpolation of every joint (and of the time) between the two frames around
it, and flagged in `Window.filled`; a longer gap, f or more missed frames in a row (a window would be all
made up), or any missed frame when interpolation is off, ends the segment, so no window ever spans it. The first window of a segment is emitted when it holds f frames, then one
every `stride` new frames. When a segment ends (a long gap, the track lost or deleted) its last f frames are
emitted once more if some of them were never in a window, and its memory is freed.

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

from capture.tracking import TrackEvent, TrackState, TrackUpdate
from reid.errors import SkelwatchError
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


@dataclass
class _Segment:
    """The last f frames of one track's current run of consecutive frames."""

    frames: int
    index: deque[int] = field(default_factory=deque)
    time: deque[float] = field(default_factory=deque)
    joints: deque[np.ndarray] = field(default_factory=deque)  # each (20, 3) float32, training convention
    filled: deque[bool] = field(default_factory=deque)
    unsent: int = 0  # frames added since the last window
    sent_any: bool = False

    def add(self, index: int, time: float, joints: np.ndarray, filled: bool) -> None:
        for queue, value in ((self.index, index), (self.time, time), (self.joints, joints), (self.filled, filled)):
            queue.append(value)
            if len(queue) > self.frames:
                queue.popleft()
        self.unsent += 1


class WindowBuffer:
    """Turns tracker output into windows (module docstring for the rules).

    Args:
        frames: window length f (the model's `frames`).
        stride: new frames between two windows of one track.
        max_gap_s: longest gap (seconds between two assigned skeletons) a window may span.
        interpolate: fill missed frames of short gaps; if False any missed frame ends the segment.
        max_pending: windows kept for `drain`; beyond it the oldest are dropped and counted in `dropped`.
    Raises:
        BufferError: for settings out of range.
    """

    def __init__(self, frames: int = 6, stride: int = 3, max_gap_s: float = 0.2, interpolate: bool = True,
                 max_pending: int = 256) -> None:
        if frames < 2 or stride < 1 or max_gap_s < 0.0 or max_pending < 1:
            raise BufferError(f"window buffer: frames={frames} (>= 2), stride={stride} (>= 1), "
                              f"max_gap_s={max_gap_s} (>= 0), max_pending={max_pending} (>= 1); fix the one "
                              f"out of range")
        self.frames, self.stride, self.max_gap_s, self.interpolate = frames, stride, max_gap_s, interpolate
        self._segments: dict[int, _Segment] = {}
        self._pending: deque[Window] = deque(maxlen=max_pending)
        self.dropped = 0  # windows dropped because the encoder fell behind
        self.skipped = 0  # windows not made because a joint was missing in every frame

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
        """Add one assigned skeleton of `track_id`; a skeleton whose root joint is not finite counts as missed.

        Raises:
            BufferError: when its frame index is not after the track's previous one.
        """
        joints = camera_to_model(skeleton.joints)  # (20, 3)
        if not np.isfinite(joints[ROOT_JOINT]).all():
            return
        seg = self._segments.get(track_id)
        index, time = int(skeleton.frame_index), float(skeleton.timestamp_s)
        if seg is not None and seg.index:
            last_index, last_time = seg.index[-1], seg.time[-1]
            if index <= last_index:
                raise BufferError(f"window buffer: track {track_id} got frame {index} after frame {last_index}; "
                                  f"feed each track's frames in order")
            missed = index - last_index - 1
            if time - last_time > self.max_gap_s or (missed and not self.interpolate) or missed >= self.frames:
                self.end(track_id)
                seg = None
            else:
                self._fill(seg, track_id, missed, index, time, joints)
        if seg is None:
            seg = self._segments[track_id] = _Segment(self.frames)
        seg.add(index, time, joints, False)
        self._maybe_emit(track_id, seg)

    def end(self, track_id: int) -> None:
        """Close `track_id`'s segment: emit its unsent tail as one last window, then free it."""
        seg = self._segments.pop(track_id, None)
        if seg is not None and len(seg.index) == self.frames and seg.unsent > 0:
            self._emit(track_id, seg)

    def drain(self, max_batch: int) -> list[Window]:
        """Up to `max_batch` waiting windows, oldest first (stack their `data` for the encoder)."""
        return [self._pending.popleft() for _ in range(min(max_batch, len(self._pending)))]

    def _fill(self, seg: _Segment, track_id: int, missed: int, index: int, time: float,
              joints: np.ndarray) -> None:
        """Add `missed` frames interpolated between the segment's last frame and the arriving one."""
        last_index, last_time, last_joints = seg.index[-1], seg.time[-1], seg.joints[-1]
        for k in range(1, missed + 1):
            w = k / (missed + 1)
            seg.add(last_index + k, last_time + w * (time - last_time), last_joints + w * (joints - last_joints),
                    True)
            self._maybe_emit(track_id, seg)

    def _maybe_emit(self, track_id: int, seg: _Segment) -> None:
        if len(seg.index) == self.frames and (seg.unsent >= self.stride or not seg.sent_any):
            self._emit(track_id, seg)

    def _emit(self, track_id: int, seg: _Segment) -> None:
        seg.unsent, seg.sent_any = 0, True
        raw = _fill_missing_joints(np.stack(seg.joints))  # (f, 20, 3)
        if raw is None:
            self.skipped += 1
            logger.debug("track %d: window ending at frame %d skipped, a joint is never finite", track_id,
                         seg.index[-1])
            return
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("window buffer full (%d): dropping the oldest windows; the encoder is behind",
                               self._pending.maxlen)
        self._pending.append(Window(track_id, root_centre(raw), seg.time[0], seg.time[-1],
                                    np.fromiter(seg.index, dtype=np.int64, count=self.frames), raw,
                                    np.fromiter(seg.filled, dtype=bool, count=self.frames)))


def _fill_missing_joints(raw: np.ndarray) -> np.ndarray | None:
    """Linearly interpolate in time the non-finite coordinates of each joint: (f, 20, 3) -> same, or None when
    some joint is not finite in any frame (nothing to interpolate from)."""
    finite = np.isfinite(raw).all(axis=2)  # (f, 20)
    if finite.all():
        return raw
    if not finite.any(axis=0).all():
        return None
    out = raw.copy()
    steps = np.arange(len(raw))
    for j in np.flatnonzero(~finite.all(axis=0)):
        ok = finite[:, j]
        for d in range(3):
            out[:, j, d] = np.interp(steps, steps[ok], raw[ok, j, d])
    return out

