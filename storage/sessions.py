"""Sessions, their files and tracks: the write path of recording and live runs."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Select, select
from sqlalchemy.orm import Session as OrmSession

from storage.db import Database
from storage.errors import NotFoundError
from storage.models import Recording, Session, Sighting, Track, utcnow

RECORDING_KINDS = ("raw", "skeletons", "tracks", "other")


def create_session(db: Database, path: str | Path, *, device: str = "", manifest: Optional[dict[str, Any]] = None,
                   started_at: Optional[datetime] = None) -> int:
    """Register a session folder; returns its id. `manifest` is the folder's manifest (device, intrinsics, ...)."""
    with db.write() as s:
        row = Session(path=str(path), device=device, manifest=manifest or {}, started_at=started_at or utcnow())
        s.add(row)
        s.flush()
        return row.id


def end_session(db: Database, session_id: int, ended_at: Optional[datetime] = None) -> None:
    with db.write() as s:
        row = s.get(Session, session_id)
        if row is None:
            raise NotFoundError(f"no session with id {session_id}")
        row.ended_at = ended_at or utcnow()


def add_recording(db: Database, session_id: int, path: str | Path, kind: str, size_bytes: Optional[int] = None) -> int:
    """Register one file of a session (`kind` in RECORDING_KINDS); its size is read from disk if not given."""
    if kind not in RECORDING_KINDS:
        raise ValueError(f"recording kind {kind!r} is not one of {RECORDING_KINDS}")
    size = size_bytes if size_bytes is not None else (Path(path).stat().st_size if Path(path).exists() else 0)
    with db.write() as s:
        if s.get(Session, session_id) is None:
            raise NotFoundError(f"no session with id {session_id}")
        row = Recording(session_id=session_id, path=str(path), kind=kind, size_bytes=int(size))
        s.add(row)
        s.flush()
        return row.id


def track_id_for(s: OrmSession, session_id: int, track_key: int, t_start_s: float, t_end_s: float) -> int:
    """Get or create the track row of tracker id `track_key` in a session, widening its time span."""
    track = s.scalars(select(Track).where(Track.session_id == session_id, Track.track_key == track_key)).one_or_none()
    if track is None:
        track = Track(session_id=session_id, track_key=track_key, t_start_s=t_start_s, t_end_s=t_end_s)
        s.add(track)
        s.flush()
    else:
        track.t_start_s = min(track.t_start_s, t_start_s)
        track.t_end_s = max(track.t_end_s, t_end_s)
    return track.id


def sessions_query() -> Select[tuple[Session]]:
    return select(Session).order_by(Session.started_at.desc())


def tracks_query(session_id: int) -> Select[tuple[Track]]:
    return select(Track).where(Track.session_id == session_id).order_by(Track.track_key)


def find_or_create_session(db: Database, path: str | Path, *, device: str = "",
                           manifest: Optional[dict[str, Any]] = None, started_at: Optional[datetime] = None,
                           ended_at: Optional[datetime] = None) -> int:
    """The id of the session registered for this folder (matched by resolved path), registering it if new."""
    path = str(Path(path).resolve())
    with db.write() as s:
        found = s.scalars(select(Session.id).where(Session.path == path)).first()
        if found is not None:
            return found
        row = Session(path=path, device=device, manifest=manifest or {}, started_at=started_at or utcnow(),
                      ended_at=ended_at)
        s.add(row)
        s.flush()
        return row.id


def sightings_query(*, identity_id: Optional[int] = None, track_id: Optional[int] = None,
                    session_id: Optional[int] = None, decision: Optional[str] = None,
                    since: Optional[datetime] = None) -> Select[tuple[Sighting]]:
    """Sightings, newest first, filtered by identity, track, session, decision and time (all optional)."""
    stmt = select(Sighting).order_by(Sighting.seen_at.desc(), Sighting.id.desc())
    if identity_id is not None:
        stmt = stmt.where(Sighting.identity_id == identity_id)
    if track_id is not None:
        stmt = stmt.where(Sighting.track_id == track_id)
    if session_id is not None:
        stmt = stmt.where(Sighting.session_id == session_id)
    if decision is not None:
        stmt = stmt.where(Sighting.decision == decision)
    if since is not None:
        stmt = stmt.where(Sighting.seen_at >= since)
    return stmt


def find_track(db: Database, track_key: int, session: Optional[int | str | Path] = None,
               identity_id: Optional[int] = None) -> int:
    """The database id of tracker id `track_key`: the number the window draws and `gallery show` prints.

    Args:
        session: the session's id (as `gallery show` prints it) or its folder; when None, the one track of that
            number tied to `identity_id` (named by its votes, embeddings or sightings), or the only one there is.
    Raises:
        NotFoundError: no such track, or several, listing their sessions so the caller can name one.
    """
    from storage.models import Embedding

    with db.read() as s:
        stmt = select(Track).where(Track.track_key == track_key)
        if session is not None:
            if isinstance(session, int) or str(session).isdigit():
                stmt = stmt.where(Track.session_id == int(session))
            else:
                stmt = stmt.join(Session, Track.session_id == Session.id).where(
                    Session.path == str(Path(session).resolve()))
        found = list(s.scalars(stmt))
        if session is None and identity_id is not None and len(found) > 1:
            tied = set(s.scalars(select(Embedding.track_id).where(Embedding.identity_id == identity_id))) | set(
                s.scalars(select(Sighting.track_id).where(Sighting.identity_id == identity_id)))
            found = [t for t in found if t.identity_id == identity_id or t.id in tied] or found
        if len(found) == 1:
            return found[0].id
        where = f" in session {session}" if session is not None else ""
        if not found:
            raise NotFoundError(f"no track {track_key}{where}; `gallery show NAME` lists the session and track of "
                                "each stored window")
        sessions = ", ".join(str(t.session_id) for t in found)
        raise NotFoundError(f"track {track_key} is in sessions {sessions}; name one with --session ID")
