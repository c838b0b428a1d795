"""The hand-off book's learned transit times, stored: what confident hand-offs took between two cameras.

The book (`storage.handoff.HandoffBook`) learns them in memory as it runs; stored here, a restart (or another
machine on the same database) starts with them instead of waiting for a confident hand-off on every pair of
cameras before the wider, timed hand-offs apply. Only the newest KEEP_TRANSITS per pair are kept, as in the book:
people walk at other paces by day and night, and the table stays bounded.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select

from storage.db import Database
from storage.handoff import KEEP_TRANSITS
from storage.models import Transit

Pair = tuple[str, str]  # (from camera, to camera)


def load_transits(db: Database) -> dict[Pair, list[float]]:
    """The stored transit times per ordered pair of cameras, oldest first (`record_transit` keeps at most
    KEEP_TRANSITS a pair).

    Raises:
        StorageError: the database cannot be read.
    """
    out: defaultdict[Pair, list[float]] = defaultdict(list)
    with db.read() as s:
        for source, target, gap in s.execute(select(Transit.source_camera, Transit.target_camera, Transit.gap_s)
                                             .order_by(Transit.id)):
            out[(source, target)].append(float(gap))
    return dict(out)


def record_transit(db: Database, source: str, target: str, gap_s: float) -> None:
    """Store one confident hand-off's time from camera `source` to `target`, and drop that pair's times older
    than the newest KEEP_TRANSITS (one transaction: both or neither).

    Raises:
        StorageError: the database is locked, full or read-only (nothing is changed).
    """
    with db.write() as s:
        s.add(Transit(source_camera=source, target_camera=target, gap_s=float(gap_s)))
        s.flush()
        pair = (Transit.source_camera == source) & (Transit.target_camera == target)
        kept = select(Transit.id).where(pair).order_by(Transit.id.desc()).limit(KEEP_TRANSITS)
        s.execute(delete(Transit).where(pair, Transit.id.not_in(kept.scalar_subquery())))


def clear_transits(db: Database, pair: Pair | None = None) -> int:
    """Forget the stored times of one ordered pair of cameras (None: of every pair), as when a camera was moved
    and its walks take another time; returns how many were removed.

    Raises:
        StorageError: the database is locked, full or read-only (nothing is changed).
    """
    query = delete(Transit)
    if pair is not None:
        query = query.where(Transit.source_camera == pair[0], Transit.target_camera == pair[1])
    with db.write() as s:
        return s.execute(query).rowcount
