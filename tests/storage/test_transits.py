"""Stored transit times: what confident hand-offs took between two cameras, kept across runs and bounded."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.errors import DatabaseLockedError
from storage.handoff import KEEP_TRANSITS
from storage.models import Transit
from storage.transits import load_transits, record_transit


def test_times_come_back_per_ordered_pair_oldest_first_and_only_the_newest_are_kept(db: Database) -> None:
    assert load_transits(db) == {}
    for k in range(KEEP_TRANSITS + 5):
        record_transit(db, "door", "hall", 2.0 + 0.01 * k)
    record_transit(db, "hall", "door", 7.5)
    loaded = load_transits(db)
    assert loaded[("hall", "door")] == [7.5]
    assert loaded[("door", "hall")] == pytest.approx([2.0 + 0.01 * k for k in range(5, KEEP_TRANSITS + 5)])
    with db.read() as s:  # the table holds no more than what is loaded: it cannot grow without bound
        assert s.scalar(select(func.count()).select_from(Transit)) == KEEP_TRANSITS + 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_locked_database_refuses_the_time_and_keeps_the_stored_ones(db_path: Path, db: Database) -> None:
    record_transit(db, "door", "hall", 3.0)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseLockedError, match="locked by another process"):
            record_transit(db, "door", "hall", 4.0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert load_transits(db) == {("door", "hall"): [3.0]}
