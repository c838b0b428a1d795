"""Group the stored windows of unknown people across sessions into "unknown #k" candidates.

The grouping is the training clustering (k-reciprocal Jaccard distance + DBSCAN, `reid.cluster.cluster_level`)
on the full MSMR vectors of the current model version, so a candidate is what training would call one person.
A candidate can then be enrolled with `Gallery.enrol(name, embedding_ids=candidate.embedding_ids)`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import numpy as np
from sqlalchemy import select

from storage.gallery import Gallery
from storage.models import Embedding

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnknownCandidate:
    """"unknown #number": windows that cluster together, with the tracks and sessions they come from."""

    number: int
    embedding_ids: tuple[int, ...]
    track_ids: tuple[int, ...]
    session_ids: tuple[int, ...]
    first_seen: datetime
    last_seen: datetime

    @property
    def size(self) -> int:
        return len(self.embedding_ids)


def cluster_unknowns(gallery: Gallery, *, eps: float = 0.6, min_samples: int = 2, k1: int = 20, k2: int = 6,
                     normalize: bool = True, since: Optional[datetime] = None) -> list[UnknownCandidate]:
    """Cluster the unknown windows stored for `gallery.model_version` (outliers are left out).

    Args:
        eps, min_samples, k1, k2, normalize: the clustering parameters (config section `cluster`).
        since: only windows stored at or after this UTC time.
    Returns:
        Candidates, largest first, numbered from 1.
    Raises:
        reid.cluster.ClusteringError: bad parameters.
    """
    from reid.cluster import cluster_level  # sklearn loads on first use, not with the GUI's gallery panel

    with gallery.db.read() as s:
        stmt = select(Embedding.id, Embedding.vector, Embedding.track_id, Embedding.session_id,
                      Embedding.created_at).where(Embedding.identity_id.is_(None),
                                                  Embedding.model_version_id == gallery.model_version_id)
        if since is not None:
            stmt = stmt.where(Embedding.created_at >= since)
        rows = s.execute(stmt.order_by(Embedding.id)).all()
    if len(rows) < max(2, min_samples):
        return []
    vectors = np.frombuffer(b"".join(r.vector for r in rows), np.float32).reshape(len(rows), gallery.dim)
    labels = cluster_level(vectors, eps=eps, min_samples=min_samples, k1=min(k1, len(rows)),
                           k2=min(k2, len(rows)), normalize=normalize)
    groups = [np.flatnonzero(labels == k) for k in range(int(labels.max()) + 1)]
    groups.sort(key=lambda g: (-len(g), int(g[0])))
    out = []
    for number, members in enumerate(groups, start=1):
        picked = [rows[i] for i in members]
        out.append(UnknownCandidate(
            number, tuple(r.id for r in picked),
            tuple(sorted({r.track_id for r in picked if r.track_id is not None})),
            tuple(sorted({r.session_id for r in picked if r.session_id is not None})),
            min(r.created_at for r in picked), max(r.created_at for r in picked)))
    logger.info("%d unknown windows -> %d candidates", len(rows), len(out))
    return out
