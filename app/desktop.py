"""The desktop window's façade: everything the GUI asks of the layers below app/, Qt-free.

The window imports app/ and core/ only (an import-linter contract holds it to that). This module opens the model
and the gallery once (on a task thread), builds pipelines over them, gives the gallery panel its operations and
the tracks panel its explanations, installs a newly trained model, and says what a failure to open a source
means. Everything here is built by `app.compose`, like the CLI's, so the window and the commands agree.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from app.compose import LoadedEncoder, build_multi_pipeline, build_pipeline, encoder_factory, load_encoder, make_matcher
from app.compose import match_thresholds, open_gallery, unknown_clustering
from app.config import SkelwatchConfig
from app.explain import Explanation, cut_windows, explain_track
from app.gallery_service import GalleryService
from app.pipeline.matcher import GalleryMatcher
from app.pipeline.multi import Camera, MultiPipeline
from app.pipeline.runner import Listener, Pipeline
from capture.sources import SourceError
from reid.baseline import BONES

if TYPE_CHECKING:
    from capture.sources import Source
    from storage.gallery import Gallery

logger = logging.getLogger(__name__)

__all__ = ["BONES", "Backend", "camera_missing", "open_backend", "reencode_demo_gallery"]


@dataclass
class Backend:
    """The model and the gallery the window runs on, and what it does with them.

    Sharing one Gallery between the pipeline's matcher and the gallery panel (it locks its index) is why the
    window's pipelines come from here: an identity enrolled, merged or renamed in the panel is matched from the
    next window on, with no index to rebuild.
    """

    config: SkelwatchConfig
    encoder: LoadedEncoder
    gallery: Gallery
    service: GalleryService
    encode: Callable[[np.ndarray], np.ndarray]      # (B, f, 20, 3) -> (B, D), on the caller's thread
    session_id: int | None = field(default=None)    # storage session of the running pipeline

    @property
    def frames(self) -> int:
        return self.encoder.frames

    @property
    def model_version(self) -> str:
        return self.encoder.version

    def matcher_factory(self, label: str, cameras: tuple[str, ...] = ("",)) -> Callable[[], GalleryMatcher]:
        """A factory (run on the encoder thread) of the pipeline's matcher over the shared gallery; with several
        `cameras` (in the order their trackers share out ids) it also hands people off between them."""

        def make() -> GalleryMatcher:
            from storage.sessions import create_session

            self.session_id = None  # until the matcher's first batch registers the new one

            def start_session() -> int:
                self.session_id = create_session(self.gallery.db, label, device="gui")
                return self.session_id
            return make_matcher(self.config, self.gallery, start_session, owns_database=False, cameras=cameras,
                                meta=self.encoder.meta)
        return make

    def build_pipeline(self, source: Source, *, speed: float | None, skeleton_cache: dict | None,
                       skeletons_given: bool, label: str, listeners: tuple[Listener, ...]) -> Pipeline:
        """A pipeline on this backend's model and gallery. A replay holds at its end (paused) instead of
        finishing, so seeking or looping plays it again."""
        return build_pipeline(self.config, source, speed=speed, skeleton_cache=skeleton_cache,
                              skeletons_given=skeletons_given, encoder=self.encoder,
                              make_matcher=self.matcher_factory(label), hold_at_end=not source.is_live,
                              listeners=listeners)

    def build_multi_pipeline(self, cameras: list[Camera], *, speed: float | None, label: str,
                             listeners: tuple[Listener, ...]) -> MultiPipeline:
        """Several cameras on this backend's model and gallery (one session holds them all); replays hold at
        their end, as `build_pipeline`'s do."""
        return build_multi_pipeline(self.config, cameras, speed=speed, encoder=self.encoder,
                                    make_matcher=self.matcher_factory(label, tuple(c.name for c in cameras)),
                                    hold_at_end=not any(c.source.is_live for c in cameras), listeners=listeners)

    def apply(self, config: SkelwatchConfig) -> None:
        """A changed config: what the backend derives from it (match thresholds, clustering) follows."""
        self.config = config
        self.gallery.thresholds = match_thresholds(config, self.encoder.meta)
        self.service.cluster = unknown_clustering(config)

    def track_db_id(self, track_key: int) -> int | None:
        """The storage id of the running pipeline's track with tracker id `track_key` (None if unstored); tracker
        ids are never reused within a run, seeks included."""
        from storage.sessions import tracks_query

        if self.session_id is None:
            return None
        with self.gallery.db.read() as s:
            rows = s.scalars(tracks_query(self.session_id)).all()
        return next((t.id for t in rows if t.track_key == track_key), None)

    def track_windows(self, history: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
        """The newest non-overlapping windows (N, f, 20, 3) of a track's joint history, for enrolment."""
        return cut_windows(history, self.frames)[0]

    def explain(self, track_id: int, history: Sequence[tuple[float, np.ndarray]], k: int) -> Explanation:
        """Why track `track_id` was matched (see app.explain); runs the encoder, so call it off the GUI thread."""
        return explain_track(track_id, history, self.frames, self.encode, self.gallery, k)

    def close(self) -> None:
        self.gallery.db.dispose()


def open_backend(config: SkelwatchConfig) -> Backend:
    """Load the model the pipeline uses and open its gallery.

    Raises:
        CheckpointError: a named model that cannot be loaded; StorageError: the database cannot be opened.
    """
    encoder = load_encoder(config)
    encode = encoder_factory(encoder, config)()
    gallery = open_gallery(config, encoder.version, encoder.dim, meta=encoder.meta)
    return Backend(config, encoder, gallery, GalleryService(gallery, unknown_clustering(config), encode), encode)


def camera_missing(spec: str, error: BaseException) -> bool:
    """Whether opening `spec` failed because no RealSense camera is connected (the window then says what to do
    instead of showing the SDK's message)."""
    return isinstance(error, SourceError) and spec.startswith("realsense")


def reencode_demo_gallery(config: SkelwatchConfig) -> str | None:
    """After a new model is installed: enrol the demo people again with it (None when there is no demo).

    Storage keeps embeddings, not the skeletons they came from, so identities enrolled from live tracks keep only
    their old-model windows (shown as stale in the gallery) and need enrolling again.
    """
    from app.demo import build_demo_gallery, demo_recording_path
    from capture.sources.recording_meta import sidecar_path

    if not sidecar_path(demo_recording_path()).is_file():
        return None
    return build_demo_gallery(config)


def installed_model_dir(run_dir: Path) -> Path:
    """The checkpoint a finished training run installs: its label-free best, else its last state."""
    best = run_dir / "best"
    return best if best.exists() else run_dir
