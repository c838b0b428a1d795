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
from app.pipeline.build import encoder_factory, load_encoder_model
from storage.db import open_database
from storage.gallery import Gallery
from storage.matching import Thresholds, TrackVoter
from storage.sessions import create_session
from ui.gallery_matcher import GalleryMatcher
from ui.gallery_service import GalleryService

logger = logging.getLogger(__name__)


@dataclass
class Backend:
    frames: int                                      # window length f of the model
    model_version: str
    encode: Callable[[np.ndarray], np.ndarray]       # (B, f, 20, 3) -> (B, D)
    gallery: Gallery
    service: GalleryService
    config: SkelwatchConfig

    def matcher_factory(self, source_name: str) -> Callable[[], GalleryMatcher]:
        """A factory (run on the encoder thread) of a matcher recording into a new storage session."""
        g = self.config.gallery
        voter = TrackVoter(g.vote_window, g.vote_enter, g.vote_keep, g.vote_min_windows)
        session_id = create_session(self.gallery.db, source_name, device="gui")
        return lambda: GalleryMatcher(self.gallery, session_id, voter, g.store_unknown_windows)

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
                          thresholds=Thresholds(g.accept_distance, g.ambiguity_ratio),
                          approximate_above=g.approximate_above, target_recall=g.target_recall, top_k=g.top_k)
    except BaseException:
        db.dispose()
        raise
    return Backend(frames, version, encode, gallery, GalleryService(gallery, encode), config)
