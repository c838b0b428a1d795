"""The gallery: identities in the database, their embeddings in a faiss index kept in step, open-set matching.

The index is derived state: it is rebuilt from the database when a `Gallery` opens and updated after every
committed change (never before: a failed transaction leaves both as they were). Only embeddings of the gallery's
`model_version` are indexed; older ones are flagged by `stale_embeddings()` and never compared with new ones
until `reencode()` replaces them.

Example::

    db = open_database(home_dir() / "skelwatch.db")
    gallery = Gallery(db, model_version="a1b2c3", dim=768)
    alice = gallery.enrol("alice", vectors)          # (N, 768) float32
    result = gallery.match(vector, track_id=None)    # MatchResult(decision, identity_id, distance, ...)
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session as OrmSession

from storage import identities as ops
from storage.db import Database
from storage.errors import EmbeddingError, StorageError
from storage.forget import ForgetReport, clean_files, forget_log_path, log_entry, wipe_free_pages, write_log
from storage.identities import IdentityRef, IndexDelta, Removed, check_vectors
from storage.index import VectorIndex
from storage.matching import Candidate, MatchResult, Thresholds, decide
from storage.models import Embedding, Identity, ModelVersion, NegativePair, Session, Sighting, Track
from storage.portable import export_gallery, import_gallery

logger = logging.getLogger(__name__)

LEVEL_NAMES = ("joint", "component", "limb")


def default_levels(dim: int) -> dict[str, tuple[int, int]]:
    """The MSMR layout: three equal slices, joint | component | limb (768 -> [0:256], [256:512], [512:768])."""
    if dim % 3:
        raise EmbeddingError(f"dimension {dim} is not three equal levels; pass the level slices explicitly")
    h = dim // 3
    return {name: (i * h, (i + 1) * h) for i, name in enumerate(LEVEL_NAMES)}


def stored_dim(db: Database, model_version: str) -> Optional[int]:
    """The embedding size stored for a model version, or None if the database has not seen it."""
    with db.read() as s:
        return s.scalar(select(ModelVersion.dim).where(ModelVersion.version == model_version))


@dataclass(frozen=True)
class IdentitySummary:
    """One identity as every front-end lists it (the CLI, the gallery panel)."""

    id: int
    name: str
    watchlist: bool
    embeddings: int
    stale_embeddings: int
    created_at: datetime
    updated_at: datetime
    notes: str = ""
    sightings: Optional[int] = None          # None when not asked for (`list_identities(sightings=True)`)
    last_seen: Optional[datetime] = None     # UTC


@dataclass(frozen=True)
class EmbeddingInfo:
    """One stored embedding without its vector; `stale` when made by another model version."""

    id: int
    identity_id: Optional[int]
    model_version: str
    dim: int
    stale: bool
    session_id: Optional[int]
    session_path: Optional[str]
    track_id: Optional[int]
    track_key: Optional[int]
    t_start_s: Optional[float]
    t_end_s: Optional[float]
    created_at: datetime


class Gallery:
    """Identities, their embeddings and the faiss index over them, for one model version.

    Args:
        db: an open Database.
        model_version: the embedding model's version string (e.g. a checkpoint hash); stored with its `dim`.
        dim: embedding size D (768 for Hi-MPC MSMR with H=256).
        levels: name -> (start, stop) slice of each level, for per-level distances (default: three equal).
        thresholds: the open-set decision thresholds.
        approximate_above, target_recall: see `storage.index.VectorIndex`.
        top_k: identities ranked per match.
        sync_interval_s: how often `match` checks whether the gallery was changed by someone else.
    Raises:
        EmbeddingError: the model version is stored with another dimension.
    """

    def __init__(self, db: Database, model_version: str, *, dim: int = 768,
                 levels: Optional[dict[str, tuple[int, int]]] = None, thresholds: Optional[Thresholds] = None,
                 approximate_above: int = 50_000, target_recall: float = 0.99, top_k: int = 5,
                 sync_interval_s: float = 1.0) -> None:
        if not model_version:
            raise EmbeddingError("a gallery needs a model version string (e.g. the checkpoint hash)")
        self.db = db
        self.model_version = model_version
        self.dim = int(dim)
        self.levels = dict(levels) if levels is not None else default_levels(self.dim)
        for name, (a, b) in self.levels.items():
            if not 0 <= a < b <= self.dim:
                raise EmbeddingError(f"level {name!r} slice [{a}:{b}] does not fit dimension {self.dim}")
        self.thresholds = thresholds if thresholds is not None else Thresholds()
        self.top_k = int(top_k)
        self.sync_interval_s = float(sync_interval_s)
        self._revision = -1
        self._synced_at = 0.0
        self.index = VectorIndex(self.dim, approximate_above=approximate_above, target_recall=target_recall)
        self._lock = threading.RLock()
        self._owner: dict[int, int] = {}
        self._names: dict[int, str] = {}
        self._negatives: dict[int, set[int]] = {}
        self.model_version_id = self._register_version()
        self.rebuild_index()

    def _register_version(self) -> int:
        with self.db.write() as s:
            row = s.scalars(select(ModelVersion).where(ModelVersion.version == self.model_version)).one_or_none()
            if row is None:
                row = ModelVersion(version=self.model_version, dim=self.dim,
                                   levels={k: list(v) for k, v in self.levels.items()})
                s.add(row)
                s.flush()
            elif row.dim != self.dim:
                raise EmbeddingError(f"model version {self.model_version!r} is stored with dimension {row.dim}, "
                                     f"not {self.dim}: open the gallery with dim={row.dim} or a new version string")
            return row.id

    # ---- index upkeep -------------------------------------------------------------------------------------
    def rebuild_index(self) -> int:
        """Reload every current-version gallery embedding from the database into a fresh index; returns N."""
        with self._lock, self.db.read() as s:
            self._revision = ops.read_revision(s)
            self._synced_at = time.monotonic()
            where = (Embedding.identity_id.is_not(None), Embedding.model_version_id == self.model_version_id)
            n = int(s.scalar(select(func.count()).select_from(Embedding).where(*where)) or 0)
            ids, owners = np.empty(n, np.int64), np.empty(n, np.int64)
            vecs = np.empty((n, self.dim), np.float32)  # filled in place: peak memory is one copy, not three
            rows = s.execute(select(Embedding.id, Embedding.identity_id, Embedding.vector).where(*where)
                             .order_by(Embedding.id).execution_options(yield_per=20_000))
            for i, (emb_id, owner, blob) in enumerate(rows):
                ids[i], owners[i] = emb_id, owner
                vecs[i] = np.frombuffer(blob, np.float32)
            self._names = dict(s.execute(select(Identity.id, Identity.name)).all())
            self._negatives = {}
            for track_id, identity_id in s.execute(select(NegativePair.track_id, NegativePair.identity_id)):
                self._negatives.setdefault(track_id, set()).add(identity_id)
            self.index.rebuild(ids, vecs)
            self._owner = dict(zip(ids.tolist(), owners.tolist()))
        logger.info("gallery index rebuilt: %d embeddings of %d identities (%s)", n, len(self._names),
                    self.index.kind)
        return n

    def _apply(self, delta: IndexDelta) -> None:
        if delta.remove:
            self.index.remove(delta.remove)
            for i in delta.remove:
                self._owner.pop(i, None)
        if delta.add:
            self.index.add([a[0] for a in delta.add], np.stack([a[2] for a in delta.add]))
            self._owner.update({a[0]: a[1] for a in delta.add})
        self._owner.update(delta.relabel)

    def _refresh_names(self) -> None:
        with self.db.read() as s:
            self._names = dict(s.execute(select(Identity.id, Identity.name)).all())

    def _run(self, operation: Callable[[OrmSession], tuple[Any, IndexDelta]]) -> Any:
        """Run one operation in one transaction, then bring the index in step with what was committed.

        The transaction also bumps the gallery revision; if someone else (another Gallery, another process)
        changed the gallery since this index was built, the whole index is rebuilt instead of patched.
        """
        with self._lock:
            with self.db.write() as s:
                result, delta = operation(s)
                before, after = ops.bump_revision(s)
            if before == self._revision:
                self._apply(delta)
                self._refresh_names()
                self._revision = after
            else:
                self.rebuild_index()
            return result

    def sync(self) -> bool:
        """Rebuild the index if the gallery changed elsewhere since it was built; True if it was rebuilt.

        `match` calls this at most every `sync_interval_s`, so edits from the GUI or the CLI reach a running
        pipeline within that time.
        """
        with self._lock:
            self._synced_at = time.monotonic()
            with self.db.read() as s:
                if ops.read_revision(s) == self._revision:
                    return False
            self.rebuild_index()
            return True

    def check_consistency(self) -> None:
        """Raise StorageError if the index and the database disagree on ids or owners (a test and repair aid)."""
        with self._lock, self.db.read() as s:
            stored = dict(s.execute(select(Embedding.id, Embedding.identity_id).where(
                Embedding.identity_id.is_not(None), Embedding.model_version_id == self.model_version_id)).all())
        if self.index.ids() != set(stored) or self._owner != stored:
            raise StorageError(f"gallery index out of step with {self.db.url}: {len(self.index)} indexed vs "
                               f"{len(stored)} stored; call rebuild_index()")

    # ---- matching -----------------------------------------------------------------------------------------
    def match(self, vector: np.ndarray, *, track_id: Optional[int] = None, k: Optional[int] = None) -> MatchResult:
        """Rank the nearest identities for one window embedding (D,) and decide match / unknown / ambiguous.

        Identities marked "not this person" for `track_id` are skipped.
        Raises:
            EmbeddingError: wrong size or non-finite values.
        """
        query = check_vectors(vector, self.dim)
        if len(query) != 1:
            raise EmbeddingError(f"match takes one embedding, got {len(query)}")
        k = k or self.top_k
        if time.monotonic() - self._synced_at >= self.sync_interval_s:
            self.sync()
        with self._lock:
            excluded = self._negatives.get(track_id, set()) if track_id is not None else set()
            fetch = min(len(self.index), max(4 * k, 32))
            best: dict[int, tuple[float, int]] = {}
            while fetch:
                dist, ids = self.index.search(query, fetch)
                for d, i in zip(dist[0].tolist(), ids[0].tolist()):
                    owner = self._owner.get(i)
                    if i < 0 or owner is None or owner in excluded or owner in best:
                        continue
                    best[owner] = (float(np.sqrt(max(d, 0.0))), i)
                if len(best) >= k or fetch >= len(self.index):
                    break
                best.clear()
                fetch = min(len(self.index), fetch * 4)
            ranked = sorted(best.items(), key=lambda kv: kv[1][0])[:k]
            candidates = []
            if ranked:
                nearest = self.index.reconstruct([emb for _, (_, emb) in ranked])
                for (owner, (d, emb)), vec in zip(ranked, nearest):
                    levels = {name: float(np.linalg.norm(query[0, a:b] - vec[a:b])) for name, (a, b) in
                              self.levels.items()}
                    candidates.append(Candidate(owner, self._names.get(owner, "?"), d, emb, levels))
        return decide(tuple(candidates), self.thresholds)

    # ---- identity operations (each one transaction) -------------------------------------------------------
    def enrol(self, name: str, vectors: Optional[np.ndarray] = None, *, embedding_ids: Sequence[int] = (),
              track_id: Optional[int] = None, spans: Optional[np.ndarray] = None, session_id: Optional[int] = None,
              notes: str = "", watchlist: bool = False) -> int:
        """Create identity `name` from new vectors (N, D), stored unknown windows (ids), or a track's windows.

        With `vectors`, `track_id`, `session_id` and `spans` (N, 2 seconds) only record where they come from.

        Returns the new identity id. Raises StorageError (name taken, nothing to enrol), EmbeddingError.
        """
        checked = None if vectors is None else check_vectors(vectors, self.dim)

        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            identity = ops.create_identity(s, name, notes=notes, watchlist=watchlist)
            delta = ops.add_embeddings(s, identity, model_version_id=self.model_version_id, vectors=checked,
                                       embedding_ids=list(embedding_ids), track_id=track_id, spans=spans,
                                       session_id=session_id)
            return identity.id, delta
        return int(self._run(op))

    def add(self, ref: IdentityRef, vectors: Optional[np.ndarray] = None, *, embedding_ids: Sequence[int] = (),
            track_id: Optional[int] = None, spans: Optional[np.ndarray] = None,
            session_id: Optional[int] = None) -> int:
        """Add vectors, unknown windows or a track's windows to an existing identity; returns how many."""
        checked = None if vectors is None else check_vectors(vectors, self.dim)

        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            delta = ops.add_embeddings(s, ops.resolve(s, ref), model_version_id=self.model_version_id,
                                       vectors=checked, embedding_ids=list(embedding_ids), track_id=track_id,
                                       spans=spans, session_id=session_id)
            return len(delta.add), delta
        return int(self._run(op))

    def rename(self, ref: IdentityRef, new_name: str) -> None:
        self._run(lambda s: (ops.rename(s, ref, new_name), IndexDelta()))

    def update(self, ref: IdentityRef, *, notes: Optional[str] = None, watchlist: Optional[bool] = None) -> None:
        """Change an identity's notes and/or watchlist flag."""
        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            identity = ops.resolve(s, ref)
            if notes is not None:
                identity.notes = notes
            if watchlist is not None:
                identity.watchlist = watchlist
            return None, IndexDelta()
        self._run(op)

    def merge(self, keep: IdentityRef, other: IdentityRef) -> int:
        """Fold `other` into `keep` (embeddings, sightings, tracks, rules, negatives); returns embeddings moved."""
        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            delta = ops.merge(s, keep, other)
            return len(delta.relabel), delta
        return int(self._run(op))

    def split(self, ref: IdentityRef, embedding_ids: Sequence[int], new_name: str) -> int:
        """Move chosen embeddings of an identity to a new identity; returns the new identity's id."""
        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            target, delta = ops.split(s, ref, list(embedding_ids), new_name)
            return target.id, delta
        return int(self._run(op))

    def delete(self, ref: IdentityRef) -> Removed:
        """Delete an identity and its embeddings; its past sightings stay, as unknown."""
        return self._remove(ref, forget=False)

    def forget(self, ref: IdentityRef, *, drop_raw: bool = False, command: str = "api") -> ForgetReport:
        """Remove every trace of a person (see storage.forget): the person's skeletons in session folders (and
        with `drop_raw` the raw recordings there); in one transaction the identity, embeddings, sightings, the
        tracks it was voted for or enrolled from with their windows and alerts; then the index, the database's
        free pages and WAL, and a line in the forget log naming `command`."""
        with self.db.read() as s:
            locations = ops.track_locations(s, ops.person_tracks(s, ops.resolve(s, ref).id))
        files = clean_files(self.db, locations, drop_raw=drop_raw)  # first: see storage.forget
        removed = self._remove(ref, forget=True)
        wiped, why = wipe_free_pages(self.db)
        log = forget_log_path(self.db)
        report = ForgetReport(removed, wiped, tuple(files["sessions_scrubbed"]), files["track_lines_removed"],
                              files["skeletons_removed"], tuple(files["raw_deleted"]), tuple(files["raw_left"]),
                              None if log is None else str(log), tuple(files["notes"]) + ((why,) if why else ()))
        try:
            write_log(log, log_entry(self.db, report, command))
        except OSError as exc:  # everything is removed already: say so rather than fail
            report = replace(report, log_path=None, notes=report.notes + (f"the forget log {log} could not be "
                                                                          f"written ({exc})",))
        return report

    def _remove(self, ref: IdentityRef, *, forget: bool) -> Removed:
        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            if forget and self.db.is_sqlite:  # zero what this delete frees, in the file and in the WAL frames
                s.execute(text("PRAGMA secure_delete = ON"))
            return ops.remove_identity(s, ref, forget=forget)
        with self._lock:
            before = len(self.index)
            removed: Removed = self._run(op)
            return replace(removed, index_entries=before - len(self.index))

    def not_this(self, ref: IdentityRef, track_id: int) -> int:
        """Mark a track as not this person: never matched to it again; returns embeddings detached from it."""
        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            identity_id = ops.resolve(s, ref).id
            delta = ops.not_this(s, ref, track_id)
            return (identity_id, len(delta.remove)), delta
        with self._lock:
            identity_id, detached = self._run(op)
            self._negatives.setdefault(track_id, set()).add(identity_id)
            return detached

    def has_identity(self, identity_id: Optional[int]) -> bool:
        return identity_id is not None and identity_id in self._names

    def name(self, identity_id: int) -> Optional[str]:
        """The identity's current name from the cache the index keeps (no query; None once it is gone).

        The per-window path reads names here: `get` counts every embedding, so its cost grows with the gallery.
        """
        return self._names.get(identity_id)

    # ---- queries ------------------------------------------------------------------------------------------
    def list_identities(self, *, sightings: bool = False) -> list[IdentitySummary]:
        """Every identity by name, with its embedding counts and, with `sightings`, its sightings and last one."""
        with self.db.read() as s:
            counts = dict(s.execute(select(Embedding.identity_id, func.count()).where(
                Embedding.identity_id.is_not(None)).group_by(Embedding.identity_id)).all())
            stale = dict(s.execute(select(Embedding.identity_id, func.count()).where(
                Embedding.identity_id.is_not(None), Embedding.model_version_id != self.model_version_id)
                .group_by(Embedding.identity_id)).all())
            seen = {row[0]: (int(row[1]), row[2]) for row in s.execute(
                select(Sighting.identity_id, func.count(), func.max(Sighting.seen_at))
                .where(Sighting.identity_id.is_not(None)).group_by(Sighting.identity_id))} if sightings else {}
            return [IdentitySummary(i.id, i.name, i.watchlist, counts.get(i.id, 0), stale.get(i.id, 0),
                                    i.created_at, i.updated_at, i.notes,
                                    *(seen.get(i.id, (0, None)) if sightings else (None, None)))
                    for i in s.scalars(select(Identity).order_by(Identity.name))]

    def get(self, ref: IdentityRef) -> IdentitySummary:
        with self.db.read() as s:
            iid = ops.resolve(s, ref).id
        return next(x for x in self.list_identities() if x.id == iid)

    def embeddings(self, ref: Optional[IdentityRef] = None, *, unknown: bool = False) -> list[EmbeddingInfo]:
        """Embeddings of one identity, of all identities (ref None), or the unknown windows (`unknown=True`)."""
        with self.db.read() as s:
            stmt = (select(Embedding, ModelVersion.version, Session.path, Track.track_key)
                    .join(ModelVersion, Embedding.model_version_id == ModelVersion.id)
                    .outerjoin(Session, Embedding.session_id == Session.id)
                    .outerjoin(Track, Embedding.track_id == Track.id).order_by(Embedding.id))
            if unknown:
                stmt = stmt.where(Embedding.identity_id.is_(None))
            elif ref is not None:
                stmt = stmt.where(Embedding.identity_id == ops.resolve(s, ref).id)
            else:
                stmt = stmt.where(Embedding.identity_id.is_not(None))
            return [EmbeddingInfo(e.id, e.identity_id, version, e.dim, e.model_version_id != self.model_version_id,
                                  e.session_id, path, e.track_id, key, e.t_start_s, e.t_end_s, e.created_at)
                    for e, version, path, key in s.execute(stmt)]

    def vectors(self, embedding_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors (N, D) for these embedding ids, in the given order (current model version only)."""
        with self.db.read() as s:
            rows = dict(s.execute(select(Embedding.id, Embedding.vector).where(
                Embedding.id.in_(list(embedding_ids)), Embedding.model_version_id == self.model_version_id)).all())
        missing = [i for i in embedding_ids if i not in rows]
        if missing:
            raise StorageError(f"embeddings {missing[:5]} do not exist or belong to another model version")
        return np.stack([np.frombuffer(rows[i], np.float32) for i in embedding_ids])

    def stale_embeddings(self) -> list[EmbeddingInfo]:
        """Gallery embeddings made by another model version: not indexed, waiting for `reencode`."""
        return [e for e in self.embeddings() if e.stale]

    def reencode(self, encode: Callable[[EmbeddingInfo], Optional[np.ndarray]]) -> tuple[int, int]:
        """Replace each stale embedding by `encode(info)` (a (D,) vector of this model version, or None if the
        source windows are gone). One transaction. Returns (re-encoded, left stale)."""
        stale = self.stale_embeddings()
        fresh = {e.id: check_vectors(v, self.dim)[0] for e in stale if (v := encode(e)) is not None}

        def op(s: OrmSession) -> tuple[Any, IndexDelta]:
            delta = IndexDelta()
            for emb_id, vec in fresh.items():
                row = s.get(Embedding, emb_id)
                row.vector, row.dim, row.model_version_id = vec.tobytes(), self.dim, self.model_version_id
                delta.add.append((emb_id, row.identity_id, vec))
            return None, delta
        self._run(op)
        return len(fresh), len(stale) - len(fresh)

    def export(self, path: Path, refs: Optional[Sequence[IdentityRef]] = None) -> int:
        """Write identities (all, or `refs`) to a portable .zip; returns how many. See storage.portable."""
        return export_gallery(self.db, Path(path), refs)

    def import_file(self, path: Path, *, on_conflict: str = "error") -> list[int]:
        """Read a file written by `export` (on_conflict: error | merge | skip); returns the identity ids."""
        with self._lock:
            ids = import_gallery(self.db, Path(path), on_conflict=on_conflict)
            self.rebuild_index()
            return ids
