"""Plain (Qt-free) state the panels show: the current and recent tracks, and where and when each identity was
seen, built only from pipeline events.

The Qt models in `ui.models` adapt this state; they never compute. `TrackBook.apply_frame` returns what changed
(added, updated, removed track ids) so a model can map it to beginInsertRows / dataChanged / beginRemoveRows.
Frames of several cameras interleave: each camera's time runs on its own, and a frame speaks only for the tracks
of its camera.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from app.events import FrameResult, IdentityDecision, MatchEvent, TrackView

JOINT_HISTORY = 90  # frames of joints kept per track for the explanation of the selected track
JOURNEY_SIGHTINGS = 12  # newest sightings kept per identity: a day-long run must not grow without bound


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
    camera: str = ""
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
        self.last_s: float | None = None  # the newest frame's media time (any camera)
        self._camera_s: dict[str, float] = {}  # each camera's newest media time

    def clear(self) -> None:
        self.order.clear()
        self.records.clear()
        self.last_s = None
        self._camera_s.clear()

    def record_at(self, row: int) -> TrackRecord:
        return self.records[self.order[row]]

    def row_of(self, track_id: int) -> int:
        return self.order.index(track_id)

    def jumps_back(self, frame: FrameResult) -> bool:
        """True when `frame` is earlier than the last one of its camera (a seek back): its tracks start afresh."""
        last_s = self._camera_s.get(frame.camera)
        return last_s is not None and frame.timestamp_s < last_s - 1e-6

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
        self.last_s = self._camera_s[frame.camera] = frame.timestamp_s
        added, updated = [], []
        seen = set()
        for view in frame.tracks:
            seen.add(view.track_id)
            record = self.records.get(view.track_id)
            if record is None:
                record = TrackRecord(view.track_id, frame.timestamp_s, frame.timestamp_s, view.camera)
                self.records[view.track_id] = record
                self.order.append(view.track_id)
                added.append(view.track_id)
            else:
                updated.append(view.track_id)
            _fold_view(record, view, frame.timestamp_s)
        for track_id in self.order:
            record = self.records[track_id]
            if record.present and track_id not in seen and record.camera == frame.camera:
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
        if record.identity.level_distances is None:  # a row listing a window shows its distances at once; after
            _take_identity(record, event.identity)    # that the frames say (a track's last windows may come after)
        return event.track_id


def _take_identity(record: TrackRecord, identity: IdentityDecision) -> None:
    if identity.level_distances is None and record.identity.level_distances is not None:
        identity = replace(identity, level_distances=record.identity.level_distances)  # keep showing the last
    record.identity = identity


def _fold_view(record: TrackRecord, view: TrackView, t_s: float) -> None:
    record.last_s, record.present, record.state = t_s, True, view.state
    record.frames += 1
    _take_identity(record, view.identity)
    if view.state != "lost":
        record.joints.append((t_s, np.asarray(view.joints_3d, dtype=np.float32)))


@dataclass
class Sighting:
    """One track of an identity: the camera that saw it and when (media seconds)."""

    camera: str
    track_id: int
    first_s: float
    last_s: float


@dataclass
class Journey:
    """Where and when one identity (named, or a hand-off's visitor) was seen, oldest sighting first."""

    name: str
    sightings: deque = field(default_factory=lambda: deque(maxlen=JOURNEY_SIGHTINGS))  # of Sighting

    @property
    def cameras(self) -> list[str]:
        """The cameras that saw this identity, in the order they first did."""
        return list(dict.fromkeys(s.camera for s in sorted(self.sightings, key=lambda s: s.first_s)))

    def route(self) -> str:
        """E.g. "door 0.0-3.2 s → hall 4.1-6.0 s"."""
        return " → ".join(f"{s.camera} {s.first_s:.1f}-{s.last_s:.1f} s"
                          for s in sorted(self.sightings, key=lambda s: s.first_s))


class Journeys:
    """Each identity's sightings by camera, kept after its tracks leave the track list (the person's timeline
    across cameras). Keyed by gallery id, so a rename keeps the row; a track whose name changes moves."""

    def __init__(self) -> None:
        self.order: list[int | str] = []
        self.journeys: dict[int | str, Journey] = {}

    def clear(self) -> None:
        self.order.clear()
        self.journeys.clear()

    def journey_at(self, row: int) -> Journey:
        return self.journeys[self.order[row]]

    @staticmethod
    def key_of(record: TrackRecord) -> int | str | None:
        """The journey a track belongs to: its gallery identity (None while it has no name)."""
        identity = record.identity
        if not identity.name:
            return None
        return identity.id if identity.id is not None else identity.name

    def _held_elsewhere(self, record: TrackRecord, key: int | str) -> list[int | str]:
        """The other journeys that list this track (it was named otherwise before)."""
        return [k for k in self.order if k != key
                and any(s.track_id == record.track_id for s in self.journeys[k].sightings)]

    def changes_rows(self, record: TrackRecord) -> bool:
        """Whether `note(record)` would add a journey or move the track out of another one."""
        key = self.key_of(record)
        return key is not None and (key not in self.journeys or bool(self._held_elsewhere(record, key)))

    def note(self, record: TrackRecord) -> None:
        """Fold in a named track's newest extent (a track without a name is not a sighting of anyone yet).

        A track whose identity changed (Ada, then Ben) leaves the journey it was in; an emptied journey goes."""
        key = self.key_of(record)
        if key is None:
            return
        for other in self._held_elsewhere(record, key):
            journey = self.journeys[other]
            journey.sightings = deque((s for s in journey.sightings if s.track_id != record.track_id),
                                      maxlen=JOURNEY_SIGHTINGS)
            if not journey.sightings:
                self.order.remove(other)
                del self.journeys[other]
        journey = self.journeys.get(key)
        if journey is None:
            journey = self.journeys[key] = Journey(record.identity.name)
            self.order.append(key)
        journey.name = record.identity.name
        sighting = next((s for s in journey.sightings if s.track_id == record.track_id), None)
        if sighting is None:
            journey.sightings.append(Sighting(record.camera, record.track_id, record.first_s, record.last_s))
        else:
            sighting.last_s = record.last_s
