"""The pipeline's gallery matcher: storage's SightingRecorder (match, vote, sightings, alerts) behind `Matcher`.

Built on the encoder thread by `app.compose` (the database engine and the faiss index are then used by that
thread only), and closed there: the session row gets its end time. One database transaction per encoded batch.
Everything it keeps per track is released when the tracker deletes the track (`end_track`).
"""
from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Callable

import numpy as np

from app.events import AlertEvent, Decision, IdentityDecision
from app.pipeline.seams import TrackDecision, camera_index
from capture.buffer import Window
from storage.errors import DatabaseLockedError, DatabaseUnavailableError, StorageError
from storage.models import utcnow

if TYPE_CHECKING:
    from storage.handoff import Handoff, HandoffBook
    from storage.live import Observation, SightingRecorder
    from storage.matching import MatchResult

logger = logging.getLogger(__name__)

LEVELS = ("joint", "component", "limb")
MAX_UNSAVED_WINDOWS = 20_000  # sightings queued under a lock: ~60 MB of 768-d embeddings, hours of windows


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
        handoff: several cameras: the book that matches a track starting on one camera to a track that ended on
            another (None: one camera). A hand-off names the new track as the earlier one was named, or makes
            the person a "visitor" identity (from the earlier track's windows) that can be renamed later.
        cameras: the camera names, in the order their trackers share out ids (`camera_index`).
    """

    def __init__(self, recorder: SightingRecorder, start_session: Callable[[], int], min_windows: int, *,
                 owns_database: bool = False, handoff: HandoffBook | None = None,
                 cameras: tuple[str, ...] = ("",)) -> None:
        self.recorder, self.min_windows = recorder, min_windows
        self.handoff, self.cameras = handoff, cameras
        self._start_session = start_session
        self.session_id: int | None = None
        self.owns_database = owns_database
        self._last: dict[int, TrackDecision] = {}  # each track's latest decision, shown while the database is locked
        self.unsaved_windows = 0  # windows whose sightings wait in `_unsaved` for the database
        self._unsaved: deque[tuple[list[tuple[int, np.ndarray, float, float]], datetime]] = deque()
        self._ended_keys: list[int] = []  # tracks that ended while their windows waited in `_unsaved`

    def decide(self, windows: list[Window], embeddings: np.ndarray) -> tuple[list[TrackDecision], list[AlertEvent]]:
        batch = [(w.track_id, e, w.t_start_s, w.t_end_s) for e, w in zip(embeddings, windows)]
        seen_at = utcnow()
        try:
            if self.session_id is None:
                self.session_id = self._start_session()
            self._write_unsaved()
            observations = self.recorder.observe_batch(self.session_id, batch, seen_at=seen_at)
        except (DatabaseLockedError, DatabaseUnavailableError) as exc:
            # Another process holds the database (a gallery import, a backup), or its server is away: live
            # matching must not stop for it. The batch waits in memory and is stored, in order, once the
            # database answers again; tracks keep their names.
            self._queue(batch, seen_at)
            logger.warning("%s; %d windows' sightings wait until it is free, tracks keep their last names",
                           exc, self.unsaved_windows)
            return [self._last.get(w.track_id, TrackDecision(w.track_id)) for w in windows], []
        identities, alerts = [], []
        for window, obs, embedding in zip(windows, observations, embeddings):
            voted = obs.track_identity
            name = self._name(voted.identity_id, obs.result)
            if voted.identity_id is not None:
                decision = Decision.MATCH
            elif voted.windows < self.min_windows:
                decision = Decision.PENDING
            else:  # the window alone may match someone the track's votes do not (yet) name
                decision = Decision(obs.result.decision) if obs.result.decision != "match" else Decision.UNKNOWN
            result = obs.result
            levels = None  # the named person's distances, or the nearest enrolled person's while nobody is named
            if result.level_distances and (voted.identity_id is None or result.identity_id == voted.identity_id):
                levels = tuple(float(result.level_distances[k]) for k in LEVELS)
            support = float(voted.support) if voted.identity_id is not None else 0.0
            identities.append(TrackDecision(window.track_id, IdentityDecision(decision, voted.identity_id, name,
                                                                              support, levels)))
            if self.handoff is not None:
                identities[-1] = self._hand_off(window, embedding, obs, identities[-1])
            self._last[window.track_id] = identities[-1]
            for fired in obs.alerts:
                who = self._name(fired.identity_id, obs.result)
                alerts.append(AlertEvent(timestamp_s=window.t_end_s, frame_index=int(window.frame_indices[-1]),
                                         track_id=window.track_id, identity_id=fired.identity_id,
                                         identity_name=who, rule=fired.rule_name))
        return identities, alerts

    def _hand_off(self, window: Window, embedding: np.ndarray, obs: Observation,
                  decided: TrackDecision) -> TrackDecision:
        """Give the window to the hand-off book; a track the gallery does not name yet takes the identity that
        a hand-off gave it."""
        camera = self.cameras[camera_index(window.track_id, len(self.cameras))]
        handed = self.handoff.observe(window.track_id, camera, obs.track_id, window.t_start_s, window.t_end_s,
                                      embedding, obs.embedding_id, obs.track_identity.identity_id)
        if handed is not None:
            self._name_handoff(handed)
            self._store_transit(handed)
        seen = self.handoff.get(window.track_id)
        if decided.identity.id is not None or seen is None or seen.identity_id is None:
            return decided
        name = self.recorder.gallery.name(seen.identity_id)
        return TrackDecision(window.track_id, IdentityDecision(Decision.MATCH, seen.identity_id, name, seen.support))

    def _name_handoff(self, handed: Handoff) -> None:
        """The new track is the person of `handed.source`: their gallery identity, else a new "visitor" made of
        the earlier track's windows (stored unknown windows are moved, the others stored), named after its
        database track so the name is unique; `gallery rename` gives it a real name later."""
        source = handed.source
        gallery = self.recorder.gallery
        if source.identity_id is None or not gallery.has_identity(source.identity_id):
            stored = [i for _, i in source.windows if i is not None]
            unstored = [v for v, i in source.windows if i is None]
            try:
                source.identity_id = gallery.enrol(
                    f"visitor {source.row}", np.stack(unstored) if unstored else None, embedding_ids=stored,
                    track_id=source.row, session_id=self.session_id,
                    notes=f"made by a hand-off: seen on camera {source.camera}, then on {handed.camera}")
            except StorageError as exc:  # a locked database, a name taken meanwhile: the track stays unnamed
                logger.warning("hand-off from camera %s to %s not stored (%s); the track stays unnamed",
                               source.camera, handed.camera, exc)
                return
        self.handoff.get(handed.key).identity_id = source.identity_id
        logger.info("hand-off: track %d on camera %s continues track %d of camera %s (distance %.3g, %.1f s later%s) "
                    "as %s", handed.key, handed.camera, source.key, source.camera, handed.distance, handed.gap_s,
                    ", beyond the match distance: the time fits the learned transit" if handed.timed else "",
                    gallery.name(source.identity_id))

    def _store_transit(self, handed: Handoff) -> None:
        """Store the time a confident hand-off took, which the book has just learned, so the next run (or
        another machine on the database) starts with it; a locked database costs only that one time."""
        if not handed.learned:
            return
        from storage.transits import record_transit

        try:
            record_transit(self.recorder.gallery.db, handed.source.camera, handed.camera, handed.gap_s)
        except StorageError as exc:
            logger.warning("the %.1f s transit from camera %s to %s was not stored (%s); it is used in this run "
                           "only", handed.gap_s, handed.source.camera, handed.camera, exc)

    def _queue(self, batch: list[tuple[int, np.ndarray, float, float]], seen_at: datetime) -> None:
        self._unsaved.append((batch, seen_at))
        self.unsaved_windows += len(batch)
        while self.unsaved_windows > MAX_UNSAVED_WINDOWS:  # bounded memory under a lock held for hours
            lost, _ = self._unsaved.popleft()
            self.unsaved_windows -= len(lost)
            logger.error("the database stayed locked: %d windows' sightings dropped to bound memory", len(lost))

    def _write_unsaved(self) -> None:
        """Store the queued batches, oldest first (their alerts are stored, not shown: they are late)."""
        while self._unsaved:
            batch, seen_at = self._unsaved[0]
            self.recorder.observe_batch(self.session_id, batch, seen_at=seen_at)
            self._unsaved.popleft()
            self.unsaved_windows -= len(batch)
            logger.info("stored %d queued windows' sightings; %d still wait", len(batch), self.unsaved_windows)
        for key in self._ended_keys:
            self.recorder.end_track(self.session_id, key)
        self._ended_keys.clear()

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
                "handoff tracks": self.handoff.tracks_held if self.handoff is not None else 0,
                "voter tracks": recorder.voter.tracks_held,
                "alert tracks": recorder.alerts.tracks_held if recorder.alerts is not None else 0}

    def end_track(self, track_id: int) -> None:
        """The tracker deleted `track_id`: release its votes, alert windows and last decision (after its queued
        windows, if the database is locked: storing them would bring the state back)."""
        self._last.pop(track_id, None)
        if self.handoff is not None:
            self.handoff.end(track_id)
        if self._unsaved:
            self._ended_keys.append(track_id)
        elif self.session_id is not None:
            self.recorder.end_track(self.session_id, track_id)

    def reset(self) -> None:
        """Every camera has sought: time restarted, so no track of before may be continued by a later one.

        The tracks of before the seek were ended one by one (`end_track`, from each camera's tracking worker),
        and tracker ids go on from the last one given, so no key is reused."""
        if self.handoff is not None:
            self.handoff.clear()

    def close(self) -> None:
        from storage.sessions import end_session

        db = self.recorder.gallery.db
        try:
            if self.session_id is not None:
                try:
                    self._write_unsaved()
                except (DatabaseLockedError, DatabaseUnavailableError) as exc:
                    logger.error("%s; %d windows' sightings could not be stored", exc, self.unsaved_windows)
                end_session(db, self.session_id)
        finally:
            if self.owns_database:
                db.dispose()
