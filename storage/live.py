"""The per-window write path of a live or replayed run: match, vote, store the sighting, fire alerts.

One `observe()` is one transaction (track, window embedding, sighting, track identity, alert events together),
so a crash never leaves a sighting without its track or an alert without its sighting.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import numpy as np
from sqlalchemy import select

from storage.alerts import AlertEngine, AlertFired
from storage.gallery import Gallery
from storage.identities import check_vectors, insert_vectors
from storage.matching import MatchResult, TrackIdentity, TrackVoter
from storage.models import Identity, Sighting, Track, utcnow
from storage.sessions import track_id_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """What one window led to: the stored rows, the window's own result and the track's voted identity."""

    sighting_id: int
    track_id: int
    embedding_id: Optional[int]
    result: MatchResult
    track_identity: TrackIdentity
    alerts: tuple[AlertFired, ...]


class SightingRecorder:
    """Matches windows of tracks against a gallery and records what was seen.

    Args:
        gallery: the Gallery to match against (its database receives the rows).
        voter: per-track voting with hysteresis (a default TrackVoter if None).
        alerts: an AlertEngine, or None for no alerts.
        store_unknown_windows: keep the embedding of every window not decided "match", so unknown people can be
            clustered and enrolled later.
    """

    def __init__(self, gallery: Gallery, *, voter: Optional[TrackVoter] = None, alerts: Optional[AlertEngine] = None,
                 store_unknown_windows: bool = True) -> None:
        self.gallery = gallery
        self.voter = voter or TrackVoter()
        self.alerts = alerts
        self.store_unknown_windows = store_unknown_windows
        self._tracks: dict[tuple[int, int], int] = {}

    def track_id(self, session_id: int, track_key: int, t_start_s: float = 0.0, t_end_s: float = 0.0) -> int:
        """The database id of tracker id `track_key` in a session (created on first use)."""
        key = (session_id, track_key)
        if key not in self._tracks:
            with self.gallery.db.write() as s:
                self._tracks[key] = track_id_for(s, session_id, track_key, t_start_s, t_end_s)
        return self._tracks[key]

    def observe(self, session_id: int, track_key: int, vector: np.ndarray, t_start_s: float, t_end_s: float, *,
                seen_at: Optional[datetime] = None) -> Observation:
        """Match one window (D,) of a track, vote, and store it all in one transaction.

        Args:
            session_id: the session the track belongs to; track_key: the tracker's id for it.
            t_start_s, t_end_s: the window's span in seconds from the session start.
            seen_at: wall-clock UTC time of the window (now if None).
        Raises:
            EmbeddingError: wrong size or NaN; StorageError: database problems (nothing stored then).
        """
        return self.observe_batch(session_id, [(track_key, vector, t_start_s, t_end_s)], seen_at=seen_at)[0]

    def observe_batch(self, session_id: int, windows: Sequence[tuple[int, np.ndarray, float, float]], *,
                      seen_at: Optional[datetime] = None) -> list[Observation]:
        """`observe` for several windows (track_key, vector (D,), t_start_s, t_end_s) in one transaction, in order.

        One commit per batch instead of per window: what an encoder that works in batches should call. When
        nothing could be stored (a locked database), the votes are put back too, so the same windows can be
        observed again later (the pipeline queues them) without counting twice.
        """
        votes = self.voter.snapshot()
        try:
            return self._observe_batch(session_id, windows, seen_at)
        except BaseException:
            self.voter.restore(votes)
            raise

    def _observe_batch(self, session_id: int, windows: Sequence[tuple[int, np.ndarray, float, float]],
                       seen_at: Optional[datetime]) -> list[Observation]:
        vecs = [check_vectors(w[1], self.gallery.dim) for w in windows]  # all checked before anything is stored
        now = seen_at or utcnow()
        planned = []
        for (track_key, _, t0, t1), vec in zip(windows, vecs):
            track_id = self.track_id(session_id, track_key, t0, t1)
            result = self.gallery.match(vec[0], track_id=track_id)
            voted = self.voter.update(track_id, result)
            if voted.identity_id is not None and not self.gallery.has_identity(voted.identity_id):
                self.voter.replace_identity(voted.identity_id, None)  # deleted or merged away meanwhile
                voted = self.voter.current(track_id)
            planned.append((track_key, vec, t0, t1, track_id, result, voted))
        out = []
        named = {i for p in planned for i in (p[5].identity_id, p[6].identity_id) if i is not None}
        with self.gallery.db.write() as s:
            # an identity deleted by another thread or process since matching is stored as unknown, not an error
            alive = set(s.scalars(select(Identity.id).where(Identity.id.in_(named)))) if named else set()
            for track_key, vec, t0, t1, track_id, result, voted in planned:
                track = s.get(Track, track_id)
                if track is None or (track.session_id, track.track_key) != (session_id, track_key):
                    # removed meanwhile (forget, retention; SQLite may even reuse its id): start a new row
                    track_id = self._tracks[(session_id, track_key)] = track_id_for(s, session_id, track_key, t0, t1)
                    track = s.get(Track, track_id)
                embedding_id = None
                if self.store_unknown_windows and result.decision != "match":
                    embedding_id = insert_vectors(s, vec, identity_id=None,
                                                  model_version_id=self.gallery.model_version_id,
                                                  session_id=session_id, track_id=track_id,
                                                  spans=np.array([[t0, t1]]))[0]
                sighting = Sighting(session_id=session_id, track_id=track_id, embedding_id=embedding_id,
                                    identity_id=result.identity_id if result.identity_id in alive else None,
                                    decision=result.decision if result.identity_id in alive or
                                    result.identity_id is None else "unknown",
                                    distance=result.distance, level_distances=result.level_distances,
                                    confidence=result.confidence, t_start_s=t0, t_end_s=t1, seen_at=now)
                s.add(sighting)
                track.t_start_s, track.t_end_s = min(track.t_start_s, t0), max(track.t_end_s, t1)
                track.identity_id = voted.identity_id if voted.identity_id in alive else None
                s.flush()
                fired = (self.alerts.evaluate(s, track_id=track_id, result=result, sighting_id=sighting.id,
                                              now=now) if self.alerts is not None else [])
                out.append(Observation(sighting.id, track_id, embedding_id, result, voted, tuple(fired)))
        return out

    @property
    def tracks_held(self) -> int:
        """Tracks with per-track state (votes, alert windows, database id): bounded by the people in view."""
        return len(self._tracks)

    def end_track(self, session_id: int, track_key: int) -> None:
        """Forget the votes and alert windows of a track that ended."""
        track_id = self._tracks.pop((session_id, track_key), None)
        if track_id is not None:
            self.voter.drop(track_id)
            if self.alerts is not None:
                self.alerts.drop_track(track_id)
