"""The pipeline's gallery matcher for the GUI: windows -> storage (match, vote, sightings, alerts) -> identities.

Adapts `storage.live.SightingRecorder` to the pipeline's `Matcher` protocol (app.pipeline.stages): each encoded
window is matched, voted per track and recorded in one transaction; fired alert rules become `AlertEvent`s. It runs
on the encoder thread and shares the window's `Gallery`, so an identity enrolled or renamed in the gallery panel
is matched from the next window on. Qt-free.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from app.events import AlertEvent
from app.pipeline.stages import Identity
from storage.alerts import AlertEngine
from storage.gallery import LEVEL_NAMES, Gallery
from storage.live import SightingRecorder
from storage.matching import TrackVoter

logger = logging.getLogger(__name__)


class GalleryMatcher:
    """Matches windows of one session against `gallery`.

    Args:
        gallery: the shared Gallery.
        session_id: the storage session the sightings belong to.
        voter: the per-track vote settings.
        store_unknown_windows: keep unmatched windows (for "unknown #k" candidates).
    """

    def __init__(self, gallery: Gallery, session_id: int, voter: TrackVoter, store_unknown_windows: bool = True) -> None:
        self.gallery = gallery
        self.session_id = session_id
        self._settings = (voter.window, voter.enter, voter.keep, voter.min_windows)
        self._store_unknown = store_unknown_windows
        self.recorder = self._new_recorder()

    def _new_recorder(self) -> SightingRecorder:
        return SightingRecorder(self.gallery, voter=TrackVoter(*self._settings), alerts=AlertEngine(self.gallery.db),
                                store_unknown_windows=self._store_unknown)

    def decide(self, windows: list[Any], embeddings: np.ndarray) -> tuple[list[Identity], list[AlertEvent]]:
        identities, alerts = [], []
        for window, vector in zip(windows, embeddings):
            obs = self.recorder.observe(self.session_id, window.track_id, vector, window.t_start_s, window.t_end_s)
            voted_id = obs.track_identity.identity_id if self.gallery.has_identity(obs.track_identity.identity_id) \
                else None
            name = self.gallery.get(voted_id).name if voted_id is not None else None
            result = obs.result
            levels = tuple(result.level_distances[k] for k in LEVEL_NAMES) \
                if all(k in result.level_distances for k in LEVEL_NAMES) else None
            if voted_id is not None:
                decision = "match"
            else:  # a matching window not yet backed by enough votes is still "pending"
                decision = "pending" if result.decision == "match" else result.decision
            confidence = result.confidence if voted_id is not None and result.identity_id == voted_id \
                else obs.track_identity.support
            identities.append(Identity(window.track_id, decision, voted_id, name, float(confidence), levels))
            for fired in obs.alerts:
                alerts.append(AlertEvent(timestamp_s=window.t_end_s, frame_index=int(window.frame_indices[-1]),
                                         track_id=window.track_id, identity_id=fired.identity_id,
                                         identity_name=self.gallery.get(fired.identity_id).name
                                         if self.gallery.has_identity(fired.identity_id) else None,
                                         rule=fired.rule_name))
        return identities, alerts

    def track_db_id(self, track_key: int) -> int | None:
        """The storage id of tracker id `track_key` in this session, once it has a window."""
        return self.recorder.track_id(self.session_id, track_key) if track_key is not None else None

    def reset(self) -> None:
        """After a seek: tracker ids restart, so votes, alert windows and the id -> track row map start afresh."""
        self.recorder = self._new_recorder()
