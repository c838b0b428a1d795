"""The pipeline's gallery matcher: storage's SightingRecorder (match, vote, sightings, alerts) behind `Matcher`.

Built on the encoder thread by `app.compose` (the database engine and the faiss index are then used by that
thread only), and closed there: the session row gets its end time. One database transaction per encoded batch.
Everything it keeps per track is released when the tracker deletes the track (`end_track`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

import numpy as np

from app.events import AlertEvent, Decision
from app.pipeline.stages import Identity
from capture.buffer import Window
from storage.errors import DatabaseLockedError

if TYPE_CHECKING:
    from storage.live import SightingRecorder
    from storage.matching import MatchResult

logger = logging.getLogger(__name__)

LEVELS = ("joint", "component", "limb")
# Tracker ids restart at 1 after a seek; the n-th restart files tracker id k under key n * TRACK_KEY_BLOCK + k.
TRACK_KEY_BLOCK = 1_000_000


def track_key(epoch: int, track_id: int) -> int:
    """The storage key of tracker id `track_id` after `epoch` seeks (see TRACK_KEY_BLOCK)."""
    return epoch * TRACK_KEY_BLOCK + track_id


def tracker_id(key: int) -> int:
    """The tracker's own id of a stored track key."""
    return key % TRACK_KEY_BLOCK


class GalleryMatcher:
    """Decides who each window's track is, and records the sighting (see storage.live.SightingRecorder).

    Args:
        recorder: a storage.live.SightingRecorder over the gallery.
        start_session: registers the database session the sightings belong to and returns its id. Called on the
            first batch, inside the lock handling, so a pipeline that starts while another process holds the
            database waits for it instead of stopping.
        min_windows: windows a track needs before it can be more than "pending" (the voter's min_windows).
        owns_database: close() disposes the gallery's database engine (True when the factory opened it; the
            GUI shares its Gallery and keeps it open).
    """

    def __init__(self, recorder: SightingRecorder, start_session: Callable[[], int], min_windows: int, *,
                 owns_database: bool = False) -> None:
        self.recorder, self.min_windows = recorder, min_windows
        self._start_session = start_session
        self.session_id: int | None = None
        self.owns_database = owns_database
        self._epoch = 0
        self._last: dict[int, Identity] = {}  # each track's latest decision, shown while the database is locked
        self.unsaved_windows = 0

    def decide(self, windows: list[Window], embeddings: np.ndarray) -> tuple[list[Identity], list[AlertEvent]]:
        keys = [track_key(self._epoch, w.track_id) for w in windows]
        try:
            if self.session_id is None:
                self.session_id = self._start_session()
            observations = self.recorder.observe_batch(
                self.session_id, [(k, e, w.t_start_s, w.t_end_s) for k, e, w in zip(keys, embeddings, windows)])
        except DatabaseLockedError as exc:
            # Another process holds the database (a gallery edit, a backup): live matching must not stop for
            # it. The batch's sightings are not stored; tracks keep the names they had until the lock goes.
            self.unsaved_windows += len(windows)
            logger.warning("%s; %d windows' sightings not saved so far, tracks keep their last names",
                           exc, self.unsaved_windows)
            return [self._last.get(w.track_id, Identity(w.track_id)) for w in windows], []
        identities, alerts = [], []
        for window, obs in zip(windows, observations):
            voted = obs.track_identity
            name = self._name(voted.identity_id, obs.result)
            if voted.identity_id is not None:
                decision = Decision.MATCH
            elif voted.windows < self.min_windows:
                decision = Decision.PENDING
            else:  # the window alone may match someone the track's votes do not (yet) name
                decision = Decision(obs.result.decision) if obs.result.decision != "match" else Decision.UNKNOWN
            result = obs.result
            levels = None
            if result.identity_id is not None and result.identity_id == voted.identity_id and result.level_distances:
                levels = tuple(float(result.level_distances[k]) for k in LEVELS)
            identities.append(Identity(window.track_id, decision=decision, identity_id=voted.identity_id,
                                       identity_name=name, level_distances=levels,
                                       confidence=float(voted.support) if voted.identity_id is not None else 0.0))
            self._last[window.track_id] = identities[-1]
            for fired in obs.alerts:
                who = self._name(fired.identity_id, obs.result)
                alerts.append(AlertEvent(timestamp_s=window.t_end_s, frame_index=int(window.frame_indices[-1]),
                                         track_id=window.track_id, identity_id=fired.identity_id,
                                         identity_name=who, rule=fired.rule_name))
        return identities, alerts

    def _name(self, identity_id: int | None, result: MatchResult) -> str | None:
        """The identity's current name: the window's own match, else the gallery's name cache (never a query,
        so the cost of a window does not grow with the gallery)."""
        if identity_id is None:
            return None
        if result.identity_id == identity_id and result.name:
            return result.name
        return self.recorder.gallery.name(identity_id)

    def state_sizes(self) -> dict[str, int]:
        """Tracks each per-track structure holds (read from any thread: for a soak test and its guard)."""
        recorder = self.recorder
        return {"matcher decisions": len(self._last), "recorder tracks": recorder.tracks_held,
                "voter tracks": recorder.voter.tracks_held,
                "alert tracks": recorder.alerts.tracks_held if recorder.alerts is not None else 0}

    def end_track(self, track_id: int) -> None:
        """The tracker deleted `track_id`: release its votes, alert windows and last decision."""
        self._last.pop(track_id, None)
        if self.session_id is not None:
            self.recorder.end_track(self.session_id, track_key(self._epoch, track_id))

    def reset(self) -> None:
        """A seek: tracker ids start again, so they get a new block of keys (and no old decision applies).

        The tracks of before the seek are over: their per-track state is released."""
        if self.session_id is not None:
            for key in self.recorder.open_tracks(self.session_id):
                self.recorder.end_track(self.session_id, key)
        self._epoch += 1
        self._last.clear()

    def close(self) -> None:
        from storage.sessions import end_session

        db = self.recorder.gallery.db
        try:
            if self.session_id is not None:
                end_session(db, self.session_id)
        finally:
            if self.owns_database:
                db.dispose()
