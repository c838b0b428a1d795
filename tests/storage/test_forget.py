"""Forget means gone: after `forget`, a byte search of the database file, its WAL and the session folder finds
neither the person's name nor any of their embeddings, while everyone else's data stays."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

import app.session as app_session
from app.cli import main
from app.session import Manifest, SessionWriter, load_skeleton_cache, load_tracks
from capture.frames import Skeleton3D
from storage import forget as forget_mod
from storage import identities as ops
from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.models import Embedding, Recording, Sighting, Track
from storage.sessions import add_recording, create_session
from tests.storage.conftest import near, people

NAME = "Annabelle Zqxwv"


def person_bytes(files: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in files if p.is_file())


def chunks(vectors: np.ndarray) -> list[bytes]:
    """Pieces of each vector's float32 bytes: the whole vector and 64-byte slices at its start and middle."""
    out = []
    for v in np.asarray(vectors, np.float32):
        raw = v.tobytes()
        out += [raw, raw[:64], raw[1536:1600]]
    return out


def record_session(folder: Path, tracks: dict[int, np.ndarray], frames: int = 30) -> None:
    """A session folder where track k walks with joints `tracks[k]` (+ a drift) in every frame."""
    writer = SessionWriter(folder, Manifest(source="test", device="test", fps=30.0, started_utc="2026-01-01T00:00"))
    for f in range(frames):
        skeletons, observed = [], []
        for key, base in tracks.items():
            joints = (base + 0.01 * f).astype(np.float32)
            skeletons.append(Skeleton3D(joints, np.ones(20, np.float32), None, f / 30, f))
            observed.append((key, "confirmed", joints))
        writer.append(f, f / 30, skeletons, observed)
    writer.close()
    (folder / "recording.db3").write_bytes(b"raw images of everyone")


@pytest.fixture
def scene(gallery: Gallery, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    """Ann walks in tracks 1 and 3 of a recorded session, Bob in track 2; Ann is enrolled from both tracks."""
    centres, x, y = people(2, 4, seed=5)
    rng = np.random.default_rng(3)
    poses = {k: rng.normal(0, 0.3, (20, 3)) + [0, 0, 3] for k in (1, 2, 3)}
    folder = tmp_path / "sessions" / "door"
    record_session(folder, poses)
    gallery.enrol("bob", x[y == 1])
    session = create_session(gallery.db, folder, device="test")
    add_recording(gallery.db, session, folder / "recording.db3", "raw")
    recorder = SightingRecorder(gallery)
    ann = [near(centres[0], 100 + i) for i in range(12)]
    for i in range(4):
        recorder.observe(session, 1, ann[i], i * 0.2, i * 0.2 + 0.2)
        recorder.observe(session, 3, ann[4 + i], i * 0.2, i * 0.2 + 0.2)
        recorder.observe(session, 2, near(centres[1], 200 + i), i * 0.2, i * 0.2 + 0.2)
    t1, t3 = recorder.track_id(session, 1), recorder.track_id(session, 3)
    gallery.enrol(NAME, track_id=t1)
    gallery.add(NAME, track_id=t3)
    for i in range(4):  # now matched: sightings that name her
        assert recorder.observe(session, 1, ann[8 + i], 1 + i * 0.2, 1.2 + i * 0.2).result.name == NAME
    return {"gallery": gallery, "folder": folder, "ann": np.stack(ann), "poses": poses, "recorder": recorder,
            "session": session}


def test_forget_leaves_no_byte_of_the_person(scene, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    gallery, folder = scene["gallery"], scene["folder"]
    db_files = [db_path, db_path.with_name(db_path.name + "-wal")]
    session_files = sorted(p for p in folder.iterdir() if p.is_file())
    before = person_bytes(db_files)
    stored = scene["ann"][:8]  # the windows stored (unknown, then enrolled); the matched ones are not kept
    assert NAME.encode() in before and all(c in before for c in chunks(stored))  # the search can fail

    report = gallery.forget(NAME, drop_raw=True, command="test")
    removed = report.removed
    assert (removed.embeddings, removed.tracks, removed.index_entries) == (8, 2, 8)
    assert removed.sightings == 12 and removed.window_embeddings == 0  # its 8 unknown windows were enrolled
    gallery.check_consistency()
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Track)) == 1  # bob's track stays
        assert s.scalar(select(func.count()).select_from(Sighting)) == 4
        assert s.scalar(select(func.count()).select_from(Embedding)) == 4  # bob's enrolment
        assert s.scalar(select(Recording.deleted_at)) is not None

    everything = sorted(p for p in db_path.parent.rglob("*") if p.is_file())  # database, WAL, log, sessions
    assert set(session_files) - {folder / "recording.db3"} <= set(everything)
    after = person_bytes(everything)
    assert NAME.encode() not in after and not any(c in after for c in chunks(stored))
    assert b"bob" in person_bytes(db_files)
    assert report.free_pages_wiped  # (the WAL holds only what was written after the wipe: the raw file's row)
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # the session folder keeps bob and no longer holds Ann's tracks or skeletons; the raw recording is gone
    assert report.sessions_scrubbed == (str(folder),) and report.track_lines_removed == 60
    assert report.skeletons_removed == 60 and not (folder / "recording.db3").exists()
    assert {r.track_id for r in load_tracks(folder)} == {2}
    cache = load_skeleton_cache(folder)
    assert all(len(sk) == 1 for sk in cache.values()) and len(cache) == 30
    np.testing.assert_allclose(cache[5][0].joints, scene["poses"][2] + 0.05, atol=1e-3)

    log = Path(report.log_path).read_text(encoding="utf-8")
    entry = json.loads(log.splitlines()[-1])
    assert entry["command"] == "test" and entry["tracks"] == 2 and entry["identity_id"] == removed.identity_id
    assert NAME not in log and "Annabelle" not in log


def test_forget_keeps_a_track_marked_not_this_person_and_lists_raw(scene) -> None:  # type: ignore[no-untyped-def]
    gallery, folder = scene["gallery"], scene["folder"]
    t2 = scene["recorder"].track_id(scene["session"], 2)
    gallery.not_this(NAME, t2)
    report = gallery.forget(NAME)
    assert report.removed.tracks == 2 and report.raw_left == (str(folder / "recording.db3"),)
    assert (folder / "recording.db3").exists() and {r.track_id for r in load_tracks(folder)} == {2}


def test_cli_forget_prints_what_it_removed(scene, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    code = main(["--log-level", "WARNING", "gallery", "--db", str(db_path), "--model-version", "model-a",
                 "forget", NAME, "--yes"])
    out = capsys.readouterr().out
    assert code == 0 and "8 embeddings" in out and "2 tracks" in out and "12 sightings" in out
    assert "1 session folders scrubbed (60 track records, 60 skeletons removed)" in out
    assert "rm -f" in out and "recording.db3" in out and "wiped" in out


def test_session_file_names_match_what_app_session_writes() -> None:
    assert (forget_mod.SKELETONS, forget_mod.TRACKS, forget_mod.RECORDING, forget_mod.MANIFEST) == (
        app_session.SKELETONS, app_session.TRACKS, app_session.RECORDING, app_session.MANIFEST)


def test_a_forget_cut_short_after_the_scrub_is_completed_by_running_it_again(scene) -> None:  # type: ignore[no-untyped-def]
    gallery, folder = scene["gallery"], scene["folder"]
    with gallery.db.read() as s:
        locations = ops.track_locations(s, ops.person_tracks(s, ops.resolve(s, NAME).id))
    first = forget_mod.clean_files(gallery.db, locations, drop_raw=False)  # what a killed forget got done
    assert first["track_lines_removed"] == 60 and gallery.get(NAME).embeddings == 8
    report = gallery.forget(NAME)
    assert report.removed.tracks == 2 and report.track_lines_removed == 0 and report.skeletons_removed == 0
    assert [p.name for p in gallery.list_identities()] == ["bob"]
    assert {r.track_id for r in load_tracks(folder)} == {2}
