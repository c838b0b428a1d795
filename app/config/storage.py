"""Config sections of storage/: the database and retention (`storage`), the gallery and matching (`gallery`)."""
from typing import Optional

from pydantic import Field

from app.config.base import Section


class StorageConfig(Section):
    url: Optional[str] = Field(
        None, description="Database file path or SQLAlchemy URL (e.g. postgresql+psycopg://user:pw@host/skelwatch); "
        "None means the SQLite file <home>/skelwatch.db.")
    busy_timeout_s: float = Field(5.0, gt=0.0, le=600.0,
                                  description="Seconds a writer waits for another process's lock before failing.")
    retention_max_age_s: Optional[float] = Field(
        None, gt=0.0, description="Delete ended sessions (and their sightings) older than this; None keeps all.")
    retention_max_bytes: Optional[int] = Field(
        None, gt=0, description="Delete the oldest ended sessions until their files fit in this many bytes.")
    skeleton_only: bool = Field(
        False, description="Drop the raw camera/video files of ended sessions, keeping skeletons and embeddings.")
    privacy_skeleton_only: bool = Field(
        False, description="Skeleton-only privacy mode: recordings keep depth and skeletons but no colour image "
        "(their colour frames are black), the GUI shows skeletons over depth only and alert snapshots are "
        "skeleton drawings. Colour is still read in memory for pose estimation.")


class GalleryConfig(Section):
    model_version: str = Field(
        "", description="Version of the embedding model (the checkpoint hash) whose embeddings are compared; "
        "empty = the version of the encoder in use (pipeline.model_dir or models/default).")
    dim: int = Field(768, ge=3, le=65536, description="Embedding size D (3 levels x H; 768 for H=256).")
    accept_distance: Optional[float] = Field(
        None, gt=0.0, description="Euclidean distance under which a window may match; empty = the distance "
        "calibrated for the encoder in use (its model.json), else 1.0. Calibrate on your gallery with "
        "`gallery calibrate`.")
    ambiguity_ratio: float = Field(
        0.9, gt=0.0, le=1.0, description="Best/second-best identity distance ratio above which a window is ambiguous.")
    top_k: int = Field(5, ge=1, le=100, description="Identities ranked per window.")
    approximate_above: int = Field(
        50_000, ge=1, description="Gallery size past which an IVF index replaces exact search.")
    target_recall: float = Field(0.99, gt=0.0, le=1.0, description="Recall@5 vs exact search the IVF is tuned to.")
    vote_window: int = Field(9, ge=1, le=1000, description="Recent windows a track's identity is voted over.")
    vote_enter: float = Field(0.6, gt=0.0, le=1.0, description="Share of votes a name needs to be taken.")
    vote_keep: float = Field(0.3, gt=0.0, le=1.0, description="Share under which a taken name is dropped.")
    vote_min_windows: int = Field(3, ge=1, description="Windows seen before a track can take a name.")
    store_unknown_windows: bool = Field(True, description="Keep embeddings of unmatched windows for clustering.")
