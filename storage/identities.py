"""Identity operations on one open unit of work: each returns what the faiss index must do to stay in step.

These functions only touch the database (inside the caller's transaction); `storage.gallery.Gallery` runs each
in its own `Database.write()` and applies the returned `IndexDelta` after the commit succeeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.errors import EmbeddingError, NotFoundError, StorageError
from storage.models import AlertEvent, AlertRule, Embedding, GalleryState, Identity, NegativePair, Sighting, Track
from storage.models import Session as SessionRow
from storage.models import utcnow

IdentityRef = Union[int, str]


@dataclass
class IndexDelta:
    """Index changes implied by a committed operation: vectors to add, ids to drop, ids that changed owner."""

    add: list[tuple[int, int, np.ndarray]] = field(default_factory=list)  # (embedding id, identity id, vector)
    remove: list[int] = field(default_factory=list)
    relabel: dict[int, int] = field(default_factory=dict)  # embedding id -> new identity id


@dataclass(frozen=True)
class Removed:
    """What a delete or forget removed (counts of rows), so the caller can show or log it."""

    identity_id: int
    name: str
    embeddings: int
    sightings: int
    window_embeddings: int
    tracks: int
    negative_pairs: int
    alert_rules: int
    alert_events: int
    index_entries: int = 0
    locations: tuple[tuple[str, int], ...] = ()  # (session folder, tracker id) of each removed track


def bump_revision(session: Session) -> tuple[int, int]:
    """Increment the gallery revision inside the caller's transaction; returns (before, after)."""
    state = session.get(GalleryState, 1)
    if state is None:
        state = GalleryState(id=1, revision=0)
        session.add(state)
    before = state.revision
    state.revision = before + 1
    return before, before + 1


def read_revision(session: Session) -> int:
    return int(session.scalar(select(GalleryState.revision).where(GalleryState.id == 1)) or 0)


def check_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Validate embeddings as (N, dim) finite float32.

    Raises:
        EmbeddingError: wrong rank or size (names both sizes), empty, or NaN/inf values.
    """
    arr = np.asarray(vectors)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise EmbeddingError(f"embedding array of shape {tuple(np.shape(vectors))} does not fit the model's "
                             f"dimension {dim}: pass (N, {dim}) vectors made by the same model version")
    if len(arr) == 0:
        raise EmbeddingError("no embeddings given: pass at least one (N >= 1) vector")
    if not np.issubdtype(arr.dtype, np.number):
        raise EmbeddingError(f"embeddings of dtype {arr.dtype} are not numbers")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise EmbeddingError(f"{int((~np.isfinite(arr)).any(axis=1).sum())} embedding(s) hold NaN or inf values; "
                             "re-encode those windows")
    return arr


def resolve(session: Session, ref: IdentityRef) -> Identity:
    """The identity with this id (int) or name (str). Raises NotFoundError naming the reference."""
    if isinstance(ref, (int, np.integer)):
        found = session.get(Identity, int(ref))
    else:
        found = session.scalars(select(Identity).where(Identity.name == ref)).one_or_none()
    if found is None:
        raise NotFoundError(f"no identity {ref!r}; `./skelwatch gallery list` shows the ids and names")
    return found


def _check_new_name(session: Session, name: str) -> str:
    name = name.strip()
    if not name:
        raise StorageError("an identity name cannot be empty")
    if session.scalars(select(Identity.id).where(Identity.name == name)).first() is not None:
        raise StorageError(f"an identity named {name!r} already exists; pick another name or add to it instead")
    return name


def insert_vectors(session: Session, vectors: np.ndarray, *, identity_id: Optional[int], model_version_id: int,
                   session_id: Optional[int] = None, track_id: Optional[int] = None,
                   spans: Optional[np.ndarray] = None) -> list[int]:
    """Insert checked (N, D) float32 vectors; `spans` (N, 2) are window start/end seconds. Returns ids in order."""
    rows = [{"identity_id": identity_id, "model_version_id": model_version_id, "dim": int(vectors.shape[1]),
             "vector": vec.tobytes(), "session_id": session_id, "track_id": track_id,
             "t_start_s": None if spans is None else float(spans[i][0]),
             "t_end_s": None if spans is None else float(spans[i][1]), "created_at": utcnow()}
            for i, vec in enumerate(vectors)]
    stmt = insert(Embedding).returning(Embedding.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, rows))


def _claim_windows(session: Session, identity: Identity, embedding_ids: list[int], track_id: Optional[int],
                   current_version_id: int) -> IndexDelta:
    """Attach unknown window embeddings (by id, or every unknown window of a track) to an identity."""
    conds = []
    if embedding_ids:
        conds.append(Embedding.id.in_(embedding_ids))
    if track_id is not None:
        if session.get(Track, track_id) is None:
            raise NotFoundError(f"no track with id {track_id}")
        conds.append(Embedding.track_id == track_id)
    rows = session.scalars(select(Embedding).where(or_(*conds))).all() if conds else []
    taken = [e for e in rows if e.identity_id not in (None, identity.id)]
    if taken:
        raise StorageError(f"embeddings {[e.id for e in taken][:5]} already belong to other identities; "
                           "use merge or split to move them")
    missing = set(embedding_ids) - {e.id for e in rows}
    if missing:
        raise NotFoundError(f"no embeddings with ids {sorted(missing)[:5]}")
    delta = IndexDelta()
    for emb in rows:
        if emb.identity_id is None:
            emb.identity_id = identity.id
            if emb.model_version_id == current_version_id:
                delta.add.append((emb.id, identity.id, np.frombuffer(emb.vector, np.float32)))
    if not rows:
        raise StorageError("nothing to enrol: give vectors, embedding ids or a track with stored windows")
    return delta


def add_embeddings(session: Session, identity: Identity, *, model_version_id: int,
                   vectors: Optional[np.ndarray] = None, embedding_ids: Optional[list[int]] = None,
                   track_id: Optional[int] = None, spans: Optional[np.ndarray] = None,
                   session_id: Optional[int] = None) -> IndexDelta:
    """Give an identity new vectors and/or existing unknown windows. `vectors` must be checked already; with
    vectors, `track_id`/`session_id`/`spans` (N, 2) say where they come from."""
    delta = IndexDelta()
    if vectors is not None:
        ids = insert_vectors(session, vectors, identity_id=identity.id, model_version_id=model_version_id,
                             session_id=session_id, track_id=track_id, spans=spans)
        delta.add += [(i, identity.id, v) for i, v in zip(ids, vectors)]
    if embedding_ids or (track_id is not None and vectors is None):
        delta.add += _claim_windows(session, identity, list(embedding_ids or []),
                                    track_id if vectors is None else None, model_version_id).add
    if not delta.add and vectors is None and not embedding_ids and track_id is None:
        raise StorageError("nothing to enrol: give vectors, embedding ids or a track with stored windows")
    identity.updated_at = utcnow()
    return delta


def create_identity(session: Session, name: str, *, notes: str = "", watchlist: bool = False) -> Identity:
    identity = Identity(name=_check_new_name(session, name), notes=notes, watchlist=watchlist)
    session.add(identity)
    session.flush()
    return identity


def rename(session: Session, ref: IdentityRef, new_name: str) -> Identity:
    identity = resolve(session, ref)
    if new_name.strip() != identity.name:
        identity.name = _check_new_name(session, new_name)
    return identity


def merge(session: Session, keep_ref: IdentityRef, other_ref: IdentityRef) -> IndexDelta:
    """Move everything of `other` into `keep` and delete `other`."""
    keep, other = resolve(session, keep_ref), resolve(session, other_ref)
    if keep.id == other.id:
        raise StorageError(f"cannot merge identity {keep.name!r} with itself")
    moved = session.scalars(select(Embedding.id).where(Embedding.identity_id == other.id)).all()
    session.execute(update(Embedding).where(Embedding.identity_id == other.id).values(identity_id=keep.id))
    session.execute(update(Sighting).where(Sighting.identity_id == other.id).values(identity_id=keep.id))
    session.execute(update(Track).where(Track.identity_id == other.id).values(identity_id=keep.id))
    session.execute(update(AlertRule).where(AlertRule.identity_id == other.id).values(identity_id=keep.id))
    session.execute(update(AlertEvent).where(AlertEvent.identity_id == other.id).values(identity_id=keep.id))
    kept_tracks = select(NegativePair.track_id).where(NegativePair.identity_id == keep.id)
    session.execute(delete(NegativePair).where(NegativePair.identity_id == other.id,
                                               NegativePair.track_id.in_(kept_tracks)))
    session.execute(update(NegativePair).where(NegativePair.identity_id == other.id).values(identity_id=keep.id))
    keep.watchlist = keep.watchlist or other.watchlist
    keep.notes = "\n".join(n for n in (keep.notes, other.notes) if n)
    keep.updated_at = utcnow()
    session.delete(other)
    return IndexDelta(relabel={i: keep.id for i in moved})


def split(session: Session, ref: IdentityRef, embedding_ids: list[int], new_name: str) -> tuple[Identity, IndexDelta]:
    """Move the chosen embeddings of an identity to a new identity called `new_name`."""
    source = resolve(session, ref)
    owned = set(session.scalars(select(Embedding.id).where(Embedding.identity_id == source.id)).all())
    chosen = set(int(i) for i in embedding_ids)
    if not chosen:
        raise StorageError("split needs at least one embedding id")
    if chosen - owned:
        raise StorageError(f"embeddings {sorted(chosen - owned)[:5]} do not belong to {source.name!r}; "
                           f"`./skelwatch gallery show {source.id}` lists its embeddings")
    target = create_identity(session, new_name)
    session.execute(update(Embedding).where(Embedding.id.in_(chosen)).values(identity_id=target.id))
    source.updated_at = utcnow()
    return target, IndexDelta(relabel={i: target.id for i in chosen})


def person_tracks(session: Session, identity_id: int) -> list[int]:
    """The tracks of a person: voted for them, or enrolled from (an enrolment sets no vote, so both are needed).
    A track marked "not this person" is someone else's and is left out."""
    enrolled_from = select(Embedding.track_id).where(Embedding.identity_id == identity_id,
                                                     Embedding.track_id.is_not(None))
    not_them = select(NegativePair.track_id).where(NegativePair.identity_id == identity_id)
    return list(session.scalars(select(Track.id).where(
        or_(Track.identity_id == identity_id, Track.id.in_(enrolled_from)), Track.id.not_in(not_them))))


def track_locations(session: Session, track_ids: list[int]) -> tuple[tuple[str, int], ...]:
    """(session folder, tracker id) of each track: where its skeletons are on disk."""
    rows = session.execute(select(SessionRow.path, Track.track_key).join(SessionRow, Track.session_id == SessionRow.id)
                           .where(Track.id.in_(track_ids)))
    return tuple((path, key) for path, key in rows)


def remove_identity(session: Session, ref: IdentityRef, *, forget: bool) -> tuple[Removed, IndexDelta]:
    """Delete an identity and its embeddings. With `forget`, also every trace of the person: the tracks it was
    voted for or enrolled from (with their sightings, stored windows and alerts) and its sightings elsewhere."""
    identity = resolve(session, ref)
    iid = identity.id
    emb_ids = session.scalars(select(Embedding.id).where(Embedding.identity_id == iid)).all()
    count = lambda stmt: int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)  # noqa: E731
    rules = count(select(AlertRule.id).where(AlertRule.identity_id == iid))
    events = count(select(AlertEvent.id).where(AlertEvent.identity_id == iid))
    negatives = count(select(NegativePair.id).where(NegativePair.identity_id == iid))
    sightings = windows = tracks = 0
    locations: tuple[tuple[str, int], ...] = ()
    if forget:
        track_ids = person_tracks(session, iid)
        locations = track_locations(session, track_ids)
        sighting_rows = select(Sighting.id, Sighting.embedding_id).where(
            or_(Sighting.identity_id == iid, Sighting.track_id.in_(track_ids)))
        rows = session.execute(sighting_rows).all()
        window_ids = {r.embedding_id for r in rows if r.embedding_id is not None}
        window_ids |= set(session.scalars(select(Embedding.id).where(
            Embedding.track_id.in_(track_ids), Embedding.identity_id.is_(None))).all())
        sightings, tracks = len(rows), len(track_ids)
        events += count(select(AlertEvent.id).where(AlertEvent.track_id.in_(track_ids),
                                                    or_(AlertEvent.identity_id.is_(None), AlertEvent.identity_id != iid)))
        session.execute(delete(AlertEvent).where(or_(AlertEvent.track_id.in_(track_ids), AlertEvent.identity_id == iid)))
        session.execute(delete(Sighting).where(Sighting.id.in_([r.id for r in rows])))
        windows = session.execute(delete(Embedding).where(Embedding.id.in_(window_ids),
                                                          Embedding.identity_id.is_(None))).rowcount
        session.execute(delete(Track).where(Track.id.in_(track_ids)))
    session.execute(delete(Embedding).where(Embedding.identity_id == iid))
    session.delete(identity)
    removed = Removed(iid, identity.name, len(emb_ids), sightings, windows, tracks, negatives, rules, events,
                      locations=locations)
    return removed, IndexDelta(remove=list(emb_ids))


def not_this(session: Session, ref: IdentityRef, track_id: int) -> IndexDelta:
    """Record that a track is not this person; its windows leave the identity and its sightings become unknown."""
    identity = resolve(session, ref)
    track = session.get(Track, track_id)
    if track is None:
        raise NotFoundError(f"no track with id {track_id}")
    exists = session.scalars(select(NegativePair.id).where(NegativePair.identity_id == identity.id,
                                                           NegativePair.track_id == track_id)).first()
    if exists is None:
        session.add(NegativePair(identity_id=identity.id, track_id=track_id))
    detached = session.scalars(select(Embedding.id).where(Embedding.identity_id == identity.id,
                                                         Embedding.track_id == track_id)).all()
    session.execute(update(Embedding).where(Embedding.id.in_(detached)).values(identity_id=None))
    session.execute(update(Sighting).where(Sighting.track_id == track_id, Sighting.identity_id == identity.id)
                    .values(identity_id=None, decision="unknown"))
    if track.identity_id == identity.id:
        track.identity_id = None
    return IndexDelta(remove=list(detached))
