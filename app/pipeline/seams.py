"""What the pipeline's workers hand each other and what they are built around: typed values and protocols.

Kept apart from the workers so each stage module reads alone, and so the matcher and the runner name these
without importing a worker.
"""
from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from app.events import AlertEvent, IdentityDecision
from capture.tracking import TrackState

if TYPE_CHECKING:
    from capture.buffer import Window
    from capture.frames import FrameBundle, Skeleton3D


class Estimator(Protocol):
    """capture.pose.PoseEstimator: skeletons of a frame, and the split of the time the last frame took."""

    last_times: Any  # capture.pose.StageTimes (proposal_s, landmarker_s, lift_s)

    def estimate(self, frame: FrameBundle) -> list[Skeleton3D]: ...


def camera_index(track_id: int, cameras: int) -> int:
    """The camera (0-based) of a track id, when `cameras` trackers share out ids: camera k's starts at k + 1
    and steps by `cameras` (see capture.tracking.Tracker's `id_step`)."""
    return (track_id - 1) % cameras


@dataclass(frozen=True)
class TrackDecision:
    """The current identity decision of one track, as the encoder worker last made it."""

    track_id: int
    identity: IdentityDecision = field(default_factory=IdentityDecision)
    embedding: np.ndarray | None = field(default=None, repr=False)  # (D,) running mean MSMR, for the tracker


@dataclass(frozen=True)
class TracksEnded:
    """In-band on the window queue, after the last windows of these tracks: the tracker deleted them, so every
    stage downstream releases what it keeps for them (a week-long run must not grow with every person seen)."""

    track_ids: tuple[int, ...]


@dataclass(frozen=True)
class StartRecording:
    """A command to the tracking worker: record every frame from now on into `recorder`."""

    recorder: "Recorder"


@dataclass(frozen=True)
class StopRecording:
    """A command to the tracking worker: close the recording and put its manifest (or None) into `reply`."""

    reply: queue.Queue


RecordingCommand = StartRecording | StopRecording


@dataclass
class StageTimes:
    """Seconds spent in each stage (busy time, not waiting on queues) and the frames each handled."""

    seconds: dict[str, float] = field(default_factory=dict)
    frames: int = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def per_frame_ms(self) -> dict[str, float]:
        return {k: 1000.0 * v / max(self.frames, 1) for k, v in self.seconds.items()}


class Recorder(Protocol):
    """What the tracking worker records each frame to (app.session.SessionRecorder)."""

    def record(self, bundle: FrameBundle, skeletons: list[Skeleton3D],
               tracks: list[tuple[int, TrackState, np.ndarray]]) -> None: ...

    def flush_if_due(self) -> None: ...

    def close(self, dropped_frames: int) -> Any: ...


class Matcher(Protocol):
    """Turns encoded windows into identity decisions (the gallery and the track voter)."""

    def decide(self, windows: list[Window], embeddings: np.ndarray) -> tuple[list[TrackDecision], list[AlertEvent]]: ...

    def end_track(self, track_id: int) -> None: ...

    def state_sizes(self) -> dict[str, int]: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
