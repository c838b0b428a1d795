"""What the gallery panel asks of storage/, as plain calls run on the panel's task thread.

Every change goes through `storage.gallery.Gallery` (one transaction each). `GalleryService` also remembers how to
undo the changes storage can take back (rename, watchlist, enrol, merge) as plain callables.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from storage.db import Database
from storage.errors import StorageError
from storage.gallery import EmbeddingInfo, Gallery, IdentitySummary
from storage.unknowns import UnknownCandidate, cluster_unknowns

logger = logging.getLogger(__name__)

__all__ = ["ClusterParams", "GalleryService", "IdentitySummary", "TrackNotStored", "UnknownCandidate", "Undo"]


class TrackNotStored(StorageError):
    """A track the operator picked has no database row (it belongs to a run that ended)."""


@dataclass(frozen=True)
class ClusterParams:
    """How unknown windows are clustered into candidates: config section `cluster`, as the CLI uses it."""

    eps: float
    min_samples: int
    k1: int
    k2: int
    normalize: bool


@dataclass(frozen=True)
class Undo:
    """A change that can be taken back: its label and the call that does it."""

    label: str
    run: Callable[[], object]


class GalleryService:
    """The gallery of one model version and the operations of the panel. Each method is one storage call.

    Args:
        gallery: an open Gallery.
        cluster: the clustering of unknown windows.
        encode: (B, f, 20, 3) windows -> (B, D) embeddings, for enrolling a track from its joints.
    """

    def __init__(self, gallery: Gallery, cluster: ClusterParams,
                 encode: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.gallery = gallery
        self.cluster = cluster
        self.encode = encode

    @property
    def db(self) -> Database:
        return self.gallery.db

    def rows(self) -> list[IdentitySummary]:
        """Every identity with its sightings count and last sighting (UTC)."""
        return self.gallery.list_identities(sightings=True)

    def unknowns(self) -> list[UnknownCandidate]:
        """Unknown windows clustered with the configured parameters (the CLI's `gallery unknowns` uses the same)."""
        c = self.cluster
        return cluster_unknowns(self.gallery, eps=c.eps, min_samples=c.min_samples, k1=c.k1, k2=c.k2,
                                normalize=c.normalize)

    def embeddings(self, identity_id: int) -> list[EmbeddingInfo]:
        return self.gallery.embeddings(identity_id)

    def enrol_windows(self, name: str, windows: np.ndarray) -> Undo:
        """Enrol a new identity from track windows (N, f, 20, 3); undo deletes it."""
        if self.encode is None or len(windows) == 0:
            raise StorageError(f"cannot enrol {name!r}: the track has no complete window yet; wait until it has "
                               "been seen for a moment")
        identity = self.gallery.enrol(name, self.encode(windows))
        return Undo(f"enrol {name}", lambda: self.gallery.delete(identity))

    def enrol_unknown(self, name: str, candidate: UnknownCandidate) -> Undo:
        identity = self.gallery.enrol(name, embedding_ids=candidate.embedding_ids)
        return Undo(f"enrol unknown #{candidate.number} as {name}", lambda: self.gallery.delete(identity))

    def rename(self, identity_id: int, new_name: str) -> Undo:
        old = self.gallery.get(identity_id).name
        self.gallery.rename(identity_id, new_name)
        return Undo(f"rename {old} to {new_name}", lambda: self.gallery.rename(identity_id, old))

    def set_watchlist(self, identity_ids: Sequence[int], on: bool) -> Undo:
        before = {i: self.gallery.get(i).watchlist for i in identity_ids}
        for i in identity_ids:
            self.gallery.update(i, watchlist=on)
        return Undo("watchlist change", lambda: [self.gallery.update(i, watchlist=w) for i, w in before.items()])

    def merge(self, keep_id: int, other_ids: Sequence[int]) -> Undo:
        """Fold every other identity into `keep_id`; undo splits each one's embeddings back under its old name."""
        moved: list[tuple[str, list[int]]] = []
        for other in other_ids:
            name = self.gallery.get(other).name
            ids = [e.id for e in self.gallery.embeddings(other)]
            self.gallery.merge(keep_id, other)
            moved.append((name, ids))

        def undo() -> None:
            for name, ids in moved:
                if ids:
                    self.gallery.split(keep_id, ids, name)
        return Undo(f"merge {len(moved)} into one", undo)

    def split(self, identity_id: int, embedding_ids: Sequence[int], new_name: str) -> Undo:
        old = self.gallery.get(identity_id).name
        new_id = self.gallery.split(identity_id, embedding_ids, new_name)
        return Undo(f"split {new_name} from {old}", lambda: self.gallery.merge(identity_id, new_id))

    def delete(self, identity_ids: Sequence[int], forget: bool) -> None:
        """Delete (past sightings stay, as unknown) or forget (every trace) identities. Not undoable."""
        for i in identity_ids:
            if forget:
                self.gallery.forget(i, command="GUI gallery panel: Forget")
            else:
                self.gallery.delete(i)

    def not_this(self, identity_id: int, track_db_id: int) -> int:
        return self.gallery.not_this(identity_id, track_db_id)
