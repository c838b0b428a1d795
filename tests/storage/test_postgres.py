"""PostgreSQL counterparts of the SQLite-only database tests, on the real throw-away server, plus the faults
that only a server has: another writer holding the lock, a server that is unreachable, or goes away and comes
back; and two processes enrolling the same name at once (on both back-ends).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from storage.db import WRITER_LOCK_KEY, Database, _alembic_config, open_database
from storage.errors import DatabaseLockedError, DatabaseUnavailableError, SchemaError
from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.models import Base, Embedding, Identity, Sighting
from storage.sessions import create_session
from tests.storage.conftest import THRESHOLDS, near, people
from tests.storage.pg_cluster import PgCluster
from tests.storage.test_db import REPO, WRITER

postgres_only = pytest.mark.parametrize("backend", ["postgresql"])


def _psql(url: str) -> psycopg.Connection:
    """A plain driver connection to the database behind a test URL (another client, not skelwatch)."""
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False), autocommit=True)


@postgres_only
def test_postgres_migrates_to_head_and_back_with_no_drift(db: Database) -> None:
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "500ms"  # busy_timeout_s=0.5
    assert db.schema_revision() == "0003"
    cfg = _alembic_config()
    with db.engine.begin() as conn:  # the downgrade scripts run on PostgreSQL too
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    db.dispose()
    again = open_database(db.url)
    assert again.schema_revision() == "0003"
    again.dispose()


@postgres_only
def test_an_older_postgres_schema_is_migrated_in_place_keeping_its_data(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO identities (name, notes, watchlist, created_at, updated_at) "
                          "VALUES ('old timer', '', true, '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00')"))
    engine.dispose()
    db = open_database(db_url)
    assert db.schema_revision() == "0003"
    gallery = Gallery(db, "m")
    person = gallery.get("old timer")
    assert person.watchlist and person.created_at.year == 2025 and person.created_at.tzinfo is not None
    new = gallery.enrol("new", people(1, 2)[1])
    assert new > person.id
    db.dispose()


@postgres_only
def test_newer_or_foreign_postgres_schema_is_refused_and_left_untouched(db_url: str, pg_server: PgCluster) -> None:
    open_database(db_url).dispose()
    with _psql(db_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(SchemaError, match="newer skelwatch"):
        open_database(db_url)
    with _psql(db_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("9999_future",)
    foreign = pg_server.create_database()
    with _psql(foreign) as conn:
        conn.execute("CREATE TABLE cats (id integer PRIMARY KEY)")
    with pytest.raises(SchemaError, match="not a skelwatch database"):
        open_database(foreign)
    with _psql(foreign) as conn:
        assert conn.execute("SELECT count(*) FROM cats").fetchone() == (0,)
    pg_server.drop_database(foreign)


@postgres_only
def test_another_writer_holding_the_lock_gives_a_lock_error_and_readers_go_on(db: Database) -> None:
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    centres, x, y = people(2, 3)
    gallery.enrol("ann", x[y == 0])
    holder = _psql(db.url)
    holder.autocommit = False
    holder.execute(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")  # e.g. a skelwatch on another machine
    try:
        with pytest.raises(DatabaseLockedError, match="locked by another skelwatch"):
            gallery.enrol("bob", x[y == 1])
        assert [p.name for p in gallery.list_identities()] == ["ann"]  # reads do not wait for the writer
        assert gallery.match(near(centres[0], 1)).name == "ann"
    finally:
        holder.rollback()
        holder.close()
    gallery.check_consistency()
    gallery.enrol("bob", x[y == 1])  # the lock is gone: the same call now works
    assert [p.name for p in gallery.list_identities()] == ["ann", "bob"]


@postgres_only
def test_a_writer_killed_mid_transaction_leaves_the_postgres_database_as_it_was(db_url: str) -> None:
    db = open_database(db_url)
    Gallery(db, "m", thresholds=THRESHOLDS).enrol("ann", people(1, 3)[1])
    db.dispose()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db_url], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "inside"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    db = open_database(db_url, busy_timeout_s=10)  # the server notices the dead client and frees its lock
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    assert [p.name for p in gallery.list_identities()] == ["ann"]
    assert len(gallery.index) == 3
    gallery.check_consistency()
    gallery.enrol("bob", people(1, 2, seed=5)[1])
    db.dispose()


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://skelwatch:secret@/skelwatch?host={tmp_path}"  # no server listens there
    with pytest.raises(DatabaseUnavailableError, match="cannot be reached") as err:
        open_database(url)
    assert "secret" not in str(err.value) and "storage.url" in str(err.value)


@postgres_only
def test_a_server_that_goes_away_and_comes_back_loses_nothing_stored(db: Database, pg_server: PgCluster) -> None:
    gallery = Gallery(db, "m", thresholds=THRESHOLDS)
    centres, x, y = people(2, 3)
    ann = gallery.enrol("ann", x[y == 0])
    recorder = SightingRecorder(gallery)
    session = create_session(db, "door-a")
    for i in range(4):
        recorder.observe(session, 1, near(centres[0], i), i * 0.2, i * 0.2 + 0.2)
    pg_server.stop()
    try:
        with pytest.raises(DatabaseUnavailableError, match="cannot be reached"):
            recorder.observe(session, 1, near(centres[0], 9), 1.0, 1.2)
        with pytest.raises(DatabaseUnavailableError, match="cannot be reached"):
            gallery.enrol("bob", x[y == 1])
    finally:
        pg_server.start()
    # the same Database goes on: its pooled connections to the old server are replaced on first use
    recorder.observe(session, 1, near(centres[0], 10), 1.2, 1.4)
    gallery.enrol("bob", x[y == 1])
    with db.read() as s:
        seen = s.execute(select(Sighting.identity_id, Sighting.t_start_s).order_by(Sighting.id)).all()
    assert [round(t, 1) for _, t in seen] == [0.0, 0.2, 0.4, 0.6, 1.2]  # every stored one, not the failed one
    assert {i for i, _ in seen} == {ann}
    assert [p.name for p in gallery.list_identities()] == ["ann", "bob"]
    gallery.check_consistency()


def _enrol_at_once(url: str, seed: int, start: multiprocessing.synchronize.Barrier,
                   out: multiprocessing.queues.Queue) -> None:
    """One process of the race: open the gallery, wait for the other, enrol 'bob' with its own vectors."""
    try:
        gallery = Gallery(open_database(url, busy_timeout_s=30), "m", thresholds=THRESHOLDS)
        vectors = people(1, 2 + seed, seed=seed)[1]
        start.wait(timeout=120)
        out.put((seed, "ok", gallery.enrol("bob", vectors)))
    except Exception as exc:  # reported to the test, which asserts on it
        out.put((seed, "error", f"{type(exc).__name__}: {exc}"))


def test_two_processes_enrolling_the_same_name_at_once_one_wins_the_other_is_told(db: Database) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_enrol_at_once, args=(db.url, seed, start, out)) for seed in (1, 2)]
    for p in procs:
        p.start()
    try:
        results = sorted(out.get(timeout=240) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    outcomes = [r[1] for r in results]
    assert sorted(outcomes) == ["error", "ok"], results
    winner = next(r for r in results if r[1] == "ok")
    loser = next(r for r in results if r[1] == "error")
    assert loser[2].startswith("StorageError") and "'bob' already exists" in loser[2]
    with db.read() as s:
        assert s.scalars(select(Identity.id).where(Identity.name == "bob")).all() == [winner[2]]
        # only the winner's vectors are stored: seed 1 enrols 3, seed 2 enrols 4
        assert s.scalar(select(func.count()).select_from(Embedding)) == 2 + winner[0]
    Gallery(db, "m", thresholds=THRESHOLDS).check_consistency()


@postgres_only
def test_the_cli_points_at_postgres_through_storage_url(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path))
    np.save(tmp_path / "ann.npy", people(1, 3)[1])

    def cli(*args: str) -> tuple[int, str]:
        code = main(["--log-level", "WARNING", "--set", f"storage.url={db_url}", "gallery", *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    assert cli("enrol", "ann", "--npy", str(tmp_path / "ann.npy"))[0] == 0
    assert cli("rename", "ann", "anna")[0] == 0
    code, out = cli("list")
    assert code == 0 and "anna" in out and "1 identities, index exact over 3 embeddings" in out
    assert not (tmp_path / "skelwatch.db").exists()  # nothing went to the default SQLite file
    with _psql(db_url) as conn:
        assert conn.execute("SELECT name FROM identities").fetchall() == [("anna",)]
