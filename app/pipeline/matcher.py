"""The pipeline's gallery matcher: storage's SightingRecorder (match, vote, sightings, alerts) behind `Matcher`.

Built on the encoder thread (the database engine and the faiss index are then used by that thread only), and
closed there: the session row gets its end time. One database transaction per encoded batch.
"""
from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.config import SkelwatchConfig
from app.events import AlertEvent
from app.pipeline.stages import Identity
from capture.buffer import Window
from storage.errors import DatabaseLockedError
from storage.models import utcnow

logger = logging.getLogger(__name__)

LEVELS = ("joint", "component", "limb")
# Tracker ids restart at 1 after a seek; the n-th restart files tracker id k under key n * TRACK_KEY_BLOCK + k.
TRACK_KEY_BLOCK = 1_000_000
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
    """

    def __init__(self, recorder: Any, start_session: Callable[[], int], min_windows: int, *,
                 owns_database: bool = False) -> None:
        self.recorder, self.min_windows = recorder, min_windows
        self._start_session = start_session
        self.session_id: int | None = None
        self.owns_database = owns_database
        self._epoch = 0
        self._last: dict[int, Identity] = {}  # each track's latest decision, shown while the database is locked
        self.unsaved_windows = 0  # windows whose sightings wait in `_unsaved` for the database
        self._unsaved: deque[tuple[list[tuple[int, np.ndarray, float, float]], datetime]] = deque()

    def decide(self, windows: list[Window], embeddings: np.ndarray) -> tuple[list[Identity], list[AlertEvent]]:
        keys = [self._epoch * TRACK_KEY_BLOCK + w.track_id for w in windows]
        batch = [(k, e, w.t_start_s, w.t_end_s) for k, e, w in zip(keys, embeddings, windows)]
        seen_at = utcnow()
        try:
            if self.session_id is None:
                self.session_id = self._start_session()
            self._write_unsaved()
            observations = self.recorder.observe_batch(self.session_id, batch, seen_at=seen_at)
        except DatabaseLockedError as exc:
            # Another process holds the database (a gallery import, a backup): live matching must not stop for
            # it. The batch waits in memory and is stored, in order, once the lock goes; tracks keep their names.
            self._queue(batch, seen_at)
            logger.warning("%s; %d windows' sightings wait until it is free, tracks keep their last names",
                           exc, self.unsaved_windows)
            return [self._last.get(w.track_id, Identity(w.track_id, "pending", None, None, 0.0, None))
                    for w in windows], []
        identities, alerts = [], []
        for window, obs in zip(windows, observations):
            voted = obs.track_identity
            name = self._name(voted.identity_id, obs.result)
            if voted.identity_id is not None:
                decision = "match"
            elif voted.windows < self.min_windows:
                decision = "pending"
            else:
                decision = obs.result.decision if obs.result.decision != "match" else "unknown"
            result = obs.result
            levels = None
            if result.identity_id is not None and result.identity_id == voted.identity_id and result.level_distances:
                levels = tuple(float(result.level_distances[k]) for k in LEVELS)
            identities.append(Identity(window.track_id, decision, voted.identity_id, name,
                                       float(voted.support) if voted.identity_id is not None else 0.0, levels))
            self._last[window.track_id] = identities[-1]
            for fired in obs.alerts:
                who = self._name(fired.identity_id, obs.result)
                alerts.append(AlertEvent(timestamp_s=window.t_end_s, frame_index=int(window.frame_indices[-1]),
                                         track_id=window.track_id, identity_id=fired.identity_id,
                                         identity_name=who, rule=fired.rule_name))
        return identities, alerts

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

    def _name(self, identity_id: int | None, result: Any) -> str | None:
        """The identity's current name (read from the database unless the window itself matched it)."""
        if identity_id is None:
            return None
        if result.identity_id == identity_id and result.name:
            return result.name
        from storage.errors import NotFoundError

        try:
            return self.recorder.gallery.get(identity_id).name
        except NotFoundError:
            return None

    def reset(self) -> None:
        """A seek: tracker ids start again, so they get a new block of keys (and no old decision applies)."""
        self._epoch += 1
        self._last.clear()

    def close(self) -> None:
        from storage.sessions import end_session

        db = self.recorder.gallery.db
        try:
            if self.session_id is not None:
                try:
                    self._write_unsaved()
                except DatabaseLockedError as exc:
                    logger.error("%s; %d windows' sightings could not be stored", exc, self.unsaved_windows)
                end_session(db, self.session_id)
        finally:
            if self.owns_database:
                db.dispose()


def gallery_matcher_factory(config: SkelwatchConfig, model_version: str, dim: int, session_path: Path | str,
                            device: str = "", manifest: dict[str, Any] | None = None) -> Callable[[], GalleryMatcher]:
    """A factory (run on the encoder thread) of a GalleryMatcher over the configured database.

    Args:
        model_version: the encoder's version: only embeddings of this version are compared.
        dim: the encoder's MSMR size (3H).
        session_path: the session folder (or source) the sightings are filed under.
    Raises (when called):
        StorageError: the database cannot be opened (locked, corrupt, newer schema).
    """

    def make() -> GalleryMatcher:
        from app.demo import database_location
        from storage.alerts import AlertEngine
        from storage.db import open_database
        from storage.gallery import Gallery
        from storage.live import SightingRecorder
        from app.pipeline.build import match_thresholds
        from storage.matching import TrackVoter
        from storage.sessions import create_session

        g = config.gallery
        db = open_database(database_location(config), busy_timeout_s=config.storage.busy_timeout_s)
        gallery = Gallery(db, model_version, dim=dim, thresholds=match_thresholds(config),
                          approximate_above=g.approximate_above, target_recall=g.target_recall, top_k=g.top_k)
        voter = TrackVoter(g.vote_window, g.vote_enter, g.vote_keep, g.vote_min_windows)
        recorder = SightingRecorder(gallery, voter=voter, alerts=AlertEngine(db),
                                    store_unknown_windows=g.store_unknown_windows)
        logger.info("matching against %s: model %s, %d embeddings indexed", db.url, model_version, len(gallery.index))
        def start_session() -> int:
            return create_session(db, session_path, device=device, manifest=manifest or {})
        return GalleryMatcher(recorder, start_session, g.vote_min_windows, owns_database=True)

    return make
