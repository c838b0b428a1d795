"""Faults: a gallery edit killed with SIGKILL at any moment leaves a database that passes `integrity_check`, holds
the edit completely or not at all, and agrees with the index of a gallery that was open meanwhile; a database
locked past the busy timeout gives one clear error and loses nothing.

Real subprocesses: each child opens the gallery, prints "start", runs one operation and prints "done"; the test
kills it after a delay (0 s to well past the end), so some kills land inside the transaction or the VACUUM of a
forget and some after it. Whatever the moment, the checks are the same, so no timing can make them flaky.
"""
from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from app.cli import main
from storage.db import open_database
from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.models import Sighting, Track
from storage.sessions import create_session
from tests.storage.conftest import near, people

ROOT = Path(__file__).resolve().parents[2]
PER_PERSON = 2000  # enough rows that an import, a merge or a forget's VACUUM takes a while to kill inside
DELAYS_S = (0.0, 0.05, 0.3, 2.5)  # the last lets every operation finish (import takes ~1 s)
CHILD = """
import sys
from pathlib import Path
from storage.db import open_database
from storage.gallery import Gallery
db_path, op, arg = sys.argv[1], sys.argv[2], sys.argv[3]
g = Gallery(open_database(db_path), "model-a")
split_ids = [e.id for e in g.embeddings("ann")][: {half}]
print("start", flush=True)
if op == "import":
    g.import_file(Path(arg), on_conflict="merge")
elif op == "merge":
    g.merge("ann", "bob")
elif op == "split":
    g.split("ann", split_ids, "dan")
elif op == "forget":
    g.forget("ann")
print("done", flush=True)
""".replace("{half}", str(PER_PERSON // 2))


def counts(gallery: Gallery) -> dict[str, int]:
    return {p.name: p.embeddings for p in gallery.list_identities()}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A gallery of ann and bob (PER_PERSON windows each, ann seen in a session) and an export of ann and cy."""
    folder = tmp_path_factory.mktemp("faults")
    centres, x, y = people(3, PER_PERSON, seed=9)
    db = open_database(folder / "other.db")
    other = Gallery(db, "model-a")
    other.enrol("ann", x[y == 0][: PER_PERSON // 2] + 1.0)  # other windows of ann: a merge-import adds them
    other.enrol("cy", x[y == 2][:10])
    other.export(folder / "ann_cy.zip")
    db.dispose()
    db = open_database(folder / "base.db")
    gallery = Gallery(db, "model-a")
    gallery.enrol("ann", x[y == 0])
    gallery.enrol("bob", x[y == 1])
    session = create_session(db, folder / "session", device="test")
    recorder = SightingRecorder(gallery)
    for i in range(6):
        recorder.observe(session, 1, near(centres[0], i), i, i + 1.0)
        recorder.observe(session, 2, near(centres[1], 50 + i), i, i + 1.0)
    with db.write() as s:  # ann's track is hers (the voter named it)
        s.get(Track, recorder.track_id(session, 1)).identity_id = gallery.get("ann").id
    db.dispose()
    with sqlite3.connect(folder / "base.db") as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder / "base.db", folder / "ann_cy.zip"


def kill_during(db_path: Path, op: str, arg: Path, delay_s: float) -> str:
    """Run one operation in a child and SIGKILL it `delay_s` after it starts; returns how far it got."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db_path), op, str(arg)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "start", child.stderr.read()
        time.sleep(delay_s)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return "done" if "done" in out else "killed"


def expected_states(op: str) -> list[dict[str, int]]:
    """The database before the operation, and after it: nothing in between is allowed."""
    before = {"ann": PER_PERSON, "bob": PER_PERSON}
    after = {"import": {"ann": PER_PERSON + PER_PERSON // 2, "bob": PER_PERSON, "cy": 10},
             "merge": {"ann": 2 * PER_PERSON},
             "split": {"ann": PER_PERSON // 2, "bob": PER_PERSON, "dan": PER_PERSON // 2},
             "forget": {"bob": PER_PERSON}}[op]
    return [before, after]


@pytest.mark.parametrize("op", ["import", "merge", "split", "forget"])
def test_kill_9_during_a_gallery_edit_leaves_all_or_nothing(base: tuple[Path, Path], tmp_path: Path, op: str) -> None:
    base_db, export = base
    runs = []
    for k, delay in enumerate(DELAYS_S):
        shutil.copy(base_db, tmp_path / f"{k}.db")
        runs.append((tmp_path / f"{k}.db", delay))
    watchers = {path: Gallery(open_database(path), "model-a") for path, _ in runs}  # open meanwhile
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda run: kill_during(run[0], op, export, run[1]), runs))
    for (path, delay), outcome in zip(runs, outcomes):
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok", (op, delay)
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == [], (op, delay)
        watcher = watchers[path]
        watcher.sync()
        watcher.check_consistency()
        state = counts(watcher)
        assert state in expected_states(op), (op, delay, outcome, state)
        if outcome == "done":
            assert state == expected_states(op)[1]
        with watcher.db.read() as s:
            sightings = s.scalar(select(func.count()).select_from(Sighting))
        assert sightings == (6 if op == "forget" and "ann" not in state else 12), (op, delay, state)
        watcher.db.dispose()


def test_a_database_locked_past_the_busy_timeout_gives_a_clear_error_and_loses_nothing(
        base: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path = tmp_path / "locked.db"
    shutil.copy(base[0], db_path)
    np.save(tmp_path / "eve.npy", people(1, 3, seed=40)[1])
    locker = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         " c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)", str(db_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        for args in (["enrol", "eve", "--npy", str(tmp_path / "eve.npy")], ["forget", "ann", "--yes"],
                     ["import", str(base[1]), "--on-conflict", "merge"]):
            code = main(["--log-level", "ERROR", "--set", "storage.busy_timeout_s=0.3", "gallery", "--db",
                         str(db_path), "--model-version", "model-a", *args])
            err = capsys.readouterr().err
            assert code == 2 and "locked by another process" in err and "Traceback" not in err, args
            assert len(err.strip().splitlines()) == 1, err
    finally:
        locker.kill()
        locker.wait()
    gallery = Gallery(open_database(db_path), "model-a")
    assert counts(gallery) == {"ann": PER_PERSON, "bob": PER_PERSON}
    gallery.check_consistency()
    gallery.db.dispose()
    assert main(["--log-level", "ERROR", "gallery", "--db", str(db_path), "--model-version", "model-a",
                 "enrol", "eve", "--npy", str(tmp_path / "eve.npy")]) == 0
