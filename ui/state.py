"""Plain (Qt-free) state the panels show: the current and recent tracks, built only from pipeline events.

The Qt models in `ui.models` adapt this state; they never compute. `TrackBook.apply_frame` returns what changed
(added, updated, removed track ids) so a model can map it to beginInsertRows / dataChanged / beginRemoveRows.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from app.events import FrameResult, IdentityDecision, MatchEvent, TrackView

JOINT_HISTORY = 90  # frames of joints kept per track for the explanation of the selected track


@dataclass(frozen=True)
class WindowMark:
    """One encoded window of a track, as the encoder reported it."""

    start_s: float
    end_s: float
    identity: IdentityDecision


@dataclass
class TrackRecord:
    """Everything shown about one track; `present` is False once it left the picture (a recent track)."""

    track_id: int
    first_s: float
    last_s: float
    state: str = "tentative"
    identity: IdentityDecision = field(default_factory=IdentityDecision)
    frames: int = 0
    present: bool = True
    windows: list[WindowMark] = field(default_factory=list)
    joints: deque = field(default_factory=lambda: deque(maxlen=JOINT_HISTORY))  # (t_s, (20, 3) float32)

    @property
    def duration_s(self) -> float:
        return self.last_s - self.first_s



@dataclass(frozen=True)
class Changes:
    added: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()


class TrackBook:
    """Current and recent tracks in first-seen order.

    Args:
        keep_recent_s: media seconds an ended track stays listed.
    """

    def __init__(self, keep_recent_s: float = 60.0) -> None:
        self.keep_recent_s = keep_recent_s
        self.order: list[int] = []
        self.records: dict[int, TrackRecord] = {}
        self.last_s: float | None = None

    def clear(self) -> None:
        self.order.clear()
        self.records.clear()
        self.last_s = None

    def record_at(self, row: int) -> TrackRecord:
        return self.records[self.order[row]]

    def row_of(self, track_id: int) -> int:
        return self.order.index(track_id)

    def jumps_back(self, frame: FrameResult) -> bool:
        """True when `frame` is earlier than the last one (a seek back): its tracks start afresh."""
        return self.last_s is not None and frame.timestamp_s < self.last_s - 1e-6

    def new_ids(self, frame: FrameResult) -> list[int]:
        """Track ids of `frame` not listed yet, in the order `apply_frame` will append them."""
        return [v.track_id for v in frame.tracks if v.track_id not in self.records]

    def apply_frame(self, frame: FrameResult) -> Changes:
        """Fold one frame in (clearing first on a jump back); returns the ids added, updated and to be removed.

        Ended tracks older than `keep_recent_s` are returned in `removed` but left for the caller to `remove`
        (so a Qt model can announce each row before it goes).
        """
        if self.jumps_back(frame):
            self.clear()
        self.last_s = frame.timestamp_s
        added, updated = [], []
        seen = set()
        for view in frame.tracks:
            seen.add(view.track_id)
            record = self.records.get(view.track_id)
            if record is None:
                record = TrackRecord(view.track_id, frame.timestamp_s, frame.timestamp_s)
                self.records[view.track_id] = record
                self.order.append(view.track_id)
                added.append(view.track_id)
            else:
                updated.append(view.track_id)
            _fold_view(record, view, frame.timestamp_s)
        for track_id in self.order:
            record = self.records[track_id]
            if record.present and track_id not in seen:
                record.present, record.state = False, "ended"
                updated.append(track_id)
        removed = tuple(t for t in self.order if not self.records[t].present
                        and frame.timestamp_s - self.records[t].last_s > self.keep_recent_s)
        return Changes(tuple(added), tuple(updated), removed)

    def remove(self, track_id: int) -> None:
        self.order.remove(track_id)
        del self.records[track_id]

    def apply_match(self, event: MatchEvent) -> int | None:
        """Add one window to its track's history; returns the track id if that track is listed."""
        record = self.records.get(event.track_id)
        if record is None:
            return None
        record.windows.append(WindowMark(event.start_s, event.timestamp_s, event.identity))
        return event.track_id


def _fold_view(record: TrackRecord, view: TrackView, t_s: float) -> None:
    record.last_s, record.present, record.state = t_s, True, view.state
    record.frames += 1
    identity = view.identity
    if identity.level_distances is None and record.identity.level_distances is not None:
        identity = replace(identity, level_distances=record.identity.level_distances)  # keep showing the last
    record.identity = identity
    if view.state != "lost":
        record.joints.append((t_s, np.asarray(view.joints_3d, dtype=np.float32)))
