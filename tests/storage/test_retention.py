"""Retention by age and disk budget, and skeleton-only mode; gallery identities always survive."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.models import Embedding, Recording, Session, Sighting
from storage.retention import apply_retention, stored_bytes
from storage.sessions import add_recording, create_session, end_session
from storage.models import utcnow
from tests.storage.conftest import near, people


def make_session(gallery: Gallery, root: Path, name: str, age_days: float, raw_bytes: int) -> tuple[int, Path]:
    folder = root / name
    folder.mkdir()
    (folder / "stream.bag").write_bytes(b"\0" * raw_bytes)
    (folder / "skeletons.npz").write_bytes(b"\1" * 100)
    started = utcnow() - timedelta(days=age_days)
    sid = create_session(gallery.db, folder, device="realsense", manifest={"fps": 30}, started_at=started)
    add_recording(gallery.db, sid, folder / "stream.bag", "raw")
    add_recording(gallery.db, sid, folder / "skeletons.npz", "skeletons")
    end_session(gallery.db, sid, started + timedelta(minutes=5))
    return sid, folder


def test_age_budget_and_skeleton_only(gallery: Gallery, tmp_path: Path) -> None:
    centres, x, y = people(2, 3)
    recorder = SightingRecorder(gallery)
    old, old_dir = make_session(gallery, tmp_path, "old", 40, 5000)
    mid, mid_dir = make_session(gallery, tmp_path, "mid", 10, 4000)
    new, new_dir = make_session(gallery, tmp_path, "new", 1, 3000)
    for sid in (old, mid, new):
        for i in range(2):
            recorder.observe(sid, 1, near(centres[1], sid * 10 + i), i, i + 1.0)  # unknown windows
    first = recorder.observe(old, 2, near(centres[0], 5), 0.0, 1.0)
    ann = gallery.enrol("ann", embedding_ids=[first.embedding_id])  # enrolled from the old session
    live = create_session(gallery.db, tmp_path / "live", started_at=utcnow() - timedelta(days=90))  # not ended
    assert stored_bytes(gallery.db) == 5000 + 4000 + 3000 + 300

    report = apply_retention(gallery.db, max_age_s=30 * 86400)
    assert report.sessions_deleted == [old] and report.sightings_deleted == 3 and report.bytes_freed == 5100
    assert not old_dir.exists() and mid_dir.exists()
    gallery.check_consistency()
    assert gallery.get(ann).embeddings == 1 and gallery.match(near(centres[0], 6)).identity_id == ann
    with gallery.db.read() as s:
        emb = s.scalars(select(Embedding).where(Embedding.identity_id == ann)).one()
        assert emb.session_id is None and s.get(Session, live) is not None

    report = apply_retention(gallery.db, skeleton_only=True)
    assert sorted(report.sessions_made_skeleton_only) == [mid, new]
    assert not (mid_dir / "stream.bag").exists() and (mid_dir / "skeletons.npz").exists()
    assert stored_bytes(gallery.db) == 200
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Sighting)) == 4  # skeletons and sightings kept
        assert s.scalar(select(func.count()).where(Recording.deleted_at.is_not(None))) == 2

    report = apply_retention(gallery.db, max_bytes=150)
    assert report.sessions_deleted == [mid] and new_dir.exists()
    assert [p.name for p in gallery.list_identities()] == ["ann"]
