"""The database file: pragmas, migrations, refusal of newer/foreign/corrupt files, locks, full disk, crashes.

The SQLite-only tests are pinned to that back-end; their PostgreSQL counterparts are in test_postgres.py.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from storage.db import Database, open_database
from storage.errors import DatabaseLockedError, EmbeddingError, SchemaError, StorageError
from storage.gallery import Gallery
from storage.models import Base, Embedding, Identity
from tests.storage.conftest import THRESHOLDS, people

REPO = Path(__file__).resolve().parents[2]
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


@sqlite_only
def test_sqlite_runs_wal_with_foreign_keys_and_migrates_to_head(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert db.schema_revision() == "0003"


def test_reopening_keeps_data_and_timestamps_are_utc(db_url: str) -> None:
    first = open_database(db_url)
    Gallery(first, "m").enrol("ann", people(1, 2)[1])
    first.dispose()
    again = open_database(db_url)
    with again.read() as s:
        ann = s.scalars(select(Identity)).one()
    assert ann.name == "ann"
    assert ann.created_at.tzinfo is not None and ann.created_at.utcoffset().total_seconds() == 0
    with pytest.raises(Exception, match="naive datetime"):
        with again.write() as s:
            s.add(Identity(name="bo", created_at=datetime(2020, 1, 1)))
    again.dispose()


def test_newer_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    open_database(db_path).dispose()
    con = sqlite3.connect(db_path)
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="newer skelwatch"):
        open_database(db_path)
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999_future",)
    con.close()


def test_foreign_database_and_corrupt_file_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE cats (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="not a skelwatch database"):
        open_database(foreign)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is a text file, not a database\n" * 10)
    with pytest.raises(StorageError, match="not a SQLite database"):
        open_database(corrupt)
    assert corrupt.read_bytes().startswith(b"this is a text file")
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(StorageError, match="is a folder"):
        open_database(folder)


def test_corrupt_pages_inside_a_real_database_give_a_storage_error(db_path: Path) -> None:
    db = open_database(db_path)
    Gallery(db, "m").enrol("ann", people(1, 40)[1])
    db.dispose()
    data = bytearray(db_path.read_bytes())
    data[4096:4096 * 4] = b"\xff" * (4096 * 3)  # trash pages 2-4 but keep the header
    db_path.write_bytes(bytes(data))
    with pytest.raises(StorageError):
        Gallery(open_database(db_path), "m")


@sqlite_only
def test_a_writer_in_another_process_gives_a_lock_error_and_nothing_is_lost(db_path: Path, db: Database) -> None:
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    gallery.enrol("ann", people(1, 3)[1])
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseLockedError, match="locked by another process"):
            gallery.enrol("bob", people(2, 3, seed=1)[1][3:])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [p.name for p in gallery.list_identities()] == ["ann"]
    gallery.check_consistency()
    gallery.enrol("bob", people(2, 3, seed=1)[1][3:])  # the lock is gone: the same call now works
    assert [p.name for p in gallery.list_identities()] == ["ann", "bob"]


@sqlite_only
def test_full_disk_is_a_clear_error_and_keeps_what_was_stored(db: Database) -> None:
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    gallery.enrol("ann", people(1, 3)[1])

    @__import__("sqlalchemy").event.listens_for(db.engine, "connect")
    def _cap(dbapi_conn, _record):  # SQLite reports SQLITE_FULL exactly as for a full disk past this size
        dbapi_conn.execute(f"PRAGMA max_page_count = {dbapi_conn.execute('PRAGMA page_count').fetchone()[0] + 2}")

    db.engine.dispose()
    with pytest.raises(StorageError, match="disk is full"):
        gallery.enrol("bob", people(1, 200, seed=3)[1])
    assert [p.name for p in gallery.list_identities()] == ["ann"]
    gallery.check_consistency()


def test_wrong_size_embeddings_are_refused_before_anything_is_written(gallery: Gallery) -> None:
    for bad in (np.zeros((2, 512), np.float32), np.zeros((0, 768), np.float32),
                np.full((1, 768), np.nan, np.float32)):
        with pytest.raises(EmbeddingError):
            gallery.enrol("ann", bad)
    with pytest.raises(EmbeddingError, match="dimension 768"):
        Gallery(gallery.db, "model-a", dim=510)
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Identity)) == 0
        assert s.scalar(select(func.count()).select_from(Embedding)) == 0


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from storage.db import open_database
    from storage.gallery import Gallery
    from storage.identities import create_identity, insert_vectors
    db = open_database(sys.argv[1])
    gallery = Gallery(db, "m")
    with db.write() as s:
        person = create_identity(s, "half-written")
        insert_vectors(s, np.ones((50, 768), np.float32), identity_id=person.id,
                       model_version_id=gallery.model_version_id)
        s.flush()
        print("inside", flush=True)
        time.sleep(60)
""")


def test_a_writer_killed_mid_transaction_leaves_the_database_as_it_was(db_path: Path) -> None:
    db = open_database(db_path)
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    gallery.enrol("ann", people(1, 3)[1])
    db.dispose()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path)], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "inside"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    db = open_database(db_path)
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    assert [p.name for p in gallery.list_identities()] == ["ann"]
    assert len(gallery.index) == 3
    gallery.check_consistency()
    gallery.enrol("bob", people(1, 2, seed=5)[1])  # the database takes writes again
    db.dispose()


def test_an_older_schema_is_migrated_in_place_keeping_its_data(db_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from storage.db import _alembic_config

    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO identities (name, notes, watchlist, created_at, updated_at) "
                          "VALUES ('old timer', '', 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"))
    engine.dispose()
    db = open_database(db_path)
    assert db.schema_revision() == "0003"
    gallery = Gallery(db, "m")
    person = gallery.get("old timer")
    assert person.watchlist and person.created_at.year == 2025 and person.created_at.tzinfo is not None
    gallery.enrol("new", people(1, 2)[1])
    db.dispose()
