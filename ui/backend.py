"""What the window needs besides the pipeline: the model (for explanations and enrolment) and the gallery.

Opened once on a task thread (`open_backend`); Qt-free. A database that cannot be opened (locked, corrupt) is
reported and the window runs without names rather than not at all.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from app.config import SkelwatchConfig
from app.demo import database_location
from app.pipeline.build import buffer_factory, encoder_factory, estimator_factory, load_encoder_model, options_from
from app.pipeline.build import match_thresholds, tracker_factory
from app.pipeline.matcher import GalleryMatcher
from app.pipeline.runner import Listener, Pipeline
from capture.sources import Source
from reid.model import HiMPC
from storage.alerts import AlertEngine
from storage.db import open_database
from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.matching import TrackVoter
from storage.sessions import create_session, tracks_query
from ui.gallery_service import GalleryService

logger = logging.getLogger(__name__)

# The matcher files tracker id k of the n-th restart (seek) under key n * TRACK_KEY_BLOCK + k.
TRACK_KEY_BLOCK = 1_000_000


@dataclass
class Backend:
    model: HiMPC
    frames: int                                      # window length f of the model
    model_version: str
    encode: Callable[[np.ndarray], np.ndarray]       # (B, f, 20, 3) -> (B, D)
    gallery: Gallery
    service: GalleryService
    config: SkelwatchConfig
    session_id: int | None = None                    # storage session of the running pipeline

    def matcher_factory(self, label: str) -> Callable[[], GalleryMatcher]:
        """A factory (run on the encoder thread) of the pipeline's matcher over the window's own Gallery.

        Sharing the Gallery (it locks its index) is why the GUI builds the matcher itself: an identity enrolled,
        merged or renamed in the gallery panel is matched from the next window on, with no index to rebuild.
        """
        g = self.config.gallery

        def make() -> GalleryMatcher:
            voter = TrackVoter(g.vote_window, g.vote_enter, g.vote_keep, g.vote_min_windows)
            recorder = SightingRecorder(self.gallery, voter=voter, alerts=AlertEngine(self.gallery.db),
                                        store_unknown_windows=g.store_unknown_windows)
            self.session_id = None  # until the matcher's first batch registers the new one

            def start_session() -> int:
                self.session_id = create_session(self.gallery.db, label, device="gui")
                return self.session_id
            return GalleryMatcher(recorder, start_session, g.vote_min_windows)
        return make

    def build_pipeline(self, source: Source, *, speed: float | None, skeleton_cache: dict | None,
                       skeletons_given: bool, label: str, listeners: tuple[Listener, ...]) -> Pipeline:
        """A pipeline like app.pipeline.build.build_pipeline's, on this backend's model and gallery.

        A replay holds at its end (paused) instead of finishing, so seeking or looping plays it again.
        """
        c = self.config
        return Pipeline(source, tracker_factory(c), buffer_factory(c, self.frames),
                        make_estimator=estimator_factory(c),
                        make_encoder=encoder_factory(self.model, c.pipeline.device, c.pipeline.threads),
                        make_matcher=self.matcher_factory(label), skeleton_cache=skeleton_cache,
                        skeletons_given=skeletons_given,
                        options=options_from(c, source.is_live, speed, hold_at_end=not source.is_live),
                        listeners=listeners)

    def track_db_id(self, track_key: int) -> int | None:
        """The storage id of the running pipeline's newest track with tracker id `track_key` (None if unstored)."""
        if self.session_id is None:
            return None
        with self.gallery.db.read() as s:
            rows = s.scalars(tracks_query(self.session_id)).all()
        matching = [t.id for t in rows if t.track_key % TRACK_KEY_BLOCK == track_key]
        return max(matching) if matching else None

    def close(self) -> None:
        self.gallery.db.dispose()


def open_backend(config: SkelwatchConfig) -> Backend:
    """Load the model the pipeline uses and open its gallery.

    Raises:
        CheckpointError: a named model that cannot be loaded; StorageError: the database cannot be opened.
    """
    model, frames, version = load_encoder_model(config)
    encode = encoder_factory(model, config.pipeline.device, config.pipeline.threads)()
    g = config.gallery
    db = open_database(database_location(config), busy_timeout_s=config.storage.busy_timeout_s)
    try:
        gallery = Gallery(db, version, dim=model.msmr_dim,
                          thresholds=match_thresholds(config),
                          approximate_above=g.approximate_above, target_recall=g.target_recall, top_k=g.top_k)
    except BaseException:
        db.dispose()
        raise
    return Backend(model, frames, version, encode, gallery, GalleryService(gallery, encode), config)
