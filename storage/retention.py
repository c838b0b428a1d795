"""Retention: prune old sessions and their sightings by age or disk budget; optionally keep skeletons only.

Gallery identities and their embeddings are never removed (an embedding enrolled from a pruned session keeps its
vector and loses only its link to the session). Only ended sessions are touched, so a running recording is safe.
Rows go first, in one transaction; files are removed after the commit, so a crash can leave an orphan file but
never a row pointing at a deleted file.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

from sqlalchemy import delete, func, select

from storage.db import Database
from storage.models import Embedding, Recording, Session, Sighting, Track, utcnow

logger = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    sessions_deleted: list[int] = field(default_factory=list)
    sessions_made_skeleton_only: list[int] = field(default_factory=list)
    sightings_deleted: int = 0
    tracks_deleted: int = 0
    window_embeddings_deleted: int = 0
    files_deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def stored_bytes(db: Database) -> int:
    """Bytes of the session files still on disk, as registered (the disk budget counts these)."""
    with db.read() as s:
        return int(s.scalar(select(func.coalesce(func.sum(Recording.size_bytes), 0))
                            .where(Recording.deleted_at.is_(None))) or 0)


def _unlink(paths: list[tuple[str, int]], report: RetentionReport) -> None:
    for path, size in paths:
        p = Path(path)
        try:
            if p.is_file():
                p.unlink()
            report.files_deleted.append(path)
            report.bytes_freed += size
        except OSError as exc:
            logger.warning("retention: could not delete %s (%s); remove it by hand", path, exc)


def apply_retention(db: Database, *, max_age_s: Optional[float] = None, max_bytes: Optional[int] = None,
                    skeleton_only: bool = False, now: Optional[datetime] = None) -> RetentionReport:
    """Apply the policy once.

    Args:
        max_age_s: delete ended sessions that started more than this many seconds ago.
        max_bytes: then delete the oldest ended sessions until the registered files fit in this many bytes.
        skeleton_only: first drop the raw stream files (kind "raw") of every ended session, keeping skeletons,
            tracks, sightings and embeddings.
        now: the current UTC time (for tests); defaults to now.
    Returns:
        What was removed.
    """
    now = now or utcnow()
    report = RetentionReport()
    files: list[tuple[str, int]] = []
    with db.write() as s:
        ended = select(Session).where(Session.ended_at.is_not(None)).order_by(Session.started_at)
        if skeleton_only:
            for sess in s.scalars(ended.where(Session.skeleton_only.is_(False))):
                for rec in sess.recordings:
                    if rec.kind == "raw" and rec.deleted_at is None:
                        files.append((rec.path, rec.size_bytes))
                        rec.deleted_at = now
                sess.skeleton_only = True
                report.sessions_made_skeleton_only.append(sess.id)
        doomed: list[Session] = []
        if max_age_s is not None:
            doomed += list(s.scalars(ended.where(Session.started_at < now - timedelta(seconds=max_age_s))))
        if max_bytes is not None:
            s.flush()
            live = lambda sess: sum(r.size_bytes for r in sess.recordings if r.deleted_at is None)  # noqa: E731
            total = sum(live(x) for x in s.scalars(select(Session)))
            total -= sum(live(x) for x in doomed)
            for sess in s.scalars(ended):
                if total <= max_bytes:
                    break
                if sess not in doomed:
                    doomed.append(sess)
                    total -= live(sess)
        for sess in doomed:
            files += [(r.path, r.size_bytes) for r in sess.recordings if r.deleted_at is None]
            report.sightings_deleted += int(s.scalar(select(func.count()).where(Sighting.session_id == sess.id)) or 0)
            report.tracks_deleted += int(s.scalar(select(func.count()).where(Track.session_id == sess.id)) or 0)
            report.window_embeddings_deleted += s.execute(delete(Embedding).where(
                Embedding.session_id == sess.id, Embedding.identity_id.is_(None))).rowcount
            s.delete(sess)
            report.sessions_deleted.append(sess.id)
    _unlink(files, report)
    for path in {str(Path(p).parent) for p, _ in files}:
        try:
            Path(path).rmdir()  # only succeeds once a session folder is empty
        except OSError:
            pass
    logger.info("retention: %d sessions deleted, %d made skeleton-only, %d bytes freed",
                len(report.sessions_deleted), len(report.sessions_made_skeleton_only), report.bytes_freed)
    return report
