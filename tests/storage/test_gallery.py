"""Gallery matching and identity operations against a real SQLite file; the index agrees after each one."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from storage.db import open_database
from storage.errors import NotFoundError, StorageError
from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.models import Embedding, NegativePair, Sighting, Track
from storage.sessions import create_session
from tests.storage.conftest import THRESHOLDS, near, people


def count(gallery: Gallery, model) -> int:  # type: ignore[no-untyped-def]
    with gallery.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


@pytest.fixture
def trio(gallery: Gallery) -> tuple[Gallery, np.ndarray, list[int]]:
    centres, x, y = people(3, 4)
    ids = [gallery.enrol(name, x[y == i]) for i, name in enumerate(["ann", "bob", "cy"])]
    gallery.check_consistency()
    return gallery, centres, ids


def test_match_finds_the_person_with_per_level_distances(trio) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    query = near(centres[1], seed=11)
    res = gallery.match(query)
    assert res.decision == "match" and res.identity_id == ids[1] and res.name == "bob"
    best = gallery.vectors([res.candidates[0].embedding_id])[0]
    assert res.distance == pytest.approx(float(np.linalg.norm(query - best)), rel=1e-4)
    for name, (a, b) in {"joint": (0, 256), "component": (256, 512), "limb": (512, 768)}.items():
        assert res.level_distances[name] == pytest.approx(float(np.linalg.norm(query[a:b] - best[a:b])), rel=1e-4)
    assert [c.identity_id for c in res.candidates] == [ids[1]] + sorted(
        [ids[0], ids[2]], key=lambda i: float(np.linalg.norm(query - centres[ids.index(i)])))
    stranger = people(1, 1, seed=99)[0][0]
    assert gallery.match(stranger).decision == "unknown"


def test_index_is_rebuilt_from_the_database_on_open(trio, db_path) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    again = Gallery(open_database(db_path), "model-a", thresholds=THRESHOLDS)
    assert again.index.ids() == gallery.index.ids() and len(again.index) == 12
    assert again.match(near(centres[2], 5)).identity_id == ids[2]


def test_rename_merge_split_keep_index_and_database_in_step(trio) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    gallery.rename("bob", "robert")
    assert gallery.match(near(centres[1], 1)).name == "robert"
    with pytest.raises(StorageError, match="already exists"):
        gallery.rename("robert", "ann")
    moved = gallery.merge("ann", "robert")
    gallery.check_consistency()
    assert moved == 4 and gallery.get("ann").embeddings == 8
    assert gallery.match(near(centres[1], 2)).identity_id == ids[0]
    with pytest.raises(NotFoundError):
        gallery.get("robert")
    bob_embs = [e.id for e in gallery.embeddings("ann")][4:]
    new_id = gallery.split("ann", bob_embs, "bob")
    gallery.check_consistency()
    assert gallery.match(near(centres[1], 3)).identity_id == new_id
    assert gallery.match(near(centres[0], 3)).identity_id == ids[0]
    with pytest.raises(StorageError, match="do not belong"):
        gallery.split("ann", bob_embs, "bob2")
    assert gallery.get("ann").embeddings == 4


def test_delete_keeps_sightings_as_unknown_forget_removes_everything(trio) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    session = create_session(gallery.db, "/tmp/s1", device="test")
    recorder = SightingRecorder(gallery)
    for i in range(4):
        recorder.observe(session, 1, near(centres[0], 100 + i), i * 0.5, i * 0.5 + 1.0)  # ann
        recorder.observe(session, 2, near(centres[1], 200 + i), i * 0.5, i * 0.5 + 1.0)  # bob
    recorder.observe(session, 3, people(1, 1, seed=77)[0][0], 0.0, 1.0)  # a stranger
    assert count(gallery, Sighting) == 9
    removed = gallery.delete("bob")
    gallery.check_consistency()
    assert removed.embeddings == 4 and removed.index_entries == 4 and removed.sightings == 0
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).where(Sighting.track_id == recorder.track_id(session, 2))) == 4
    forgot = gallery.forget("ann").removed
    gallery.check_consistency()
    assert (forgot.embeddings, forgot.index_entries, forgot.sightings, forgot.tracks) == (4, 4, 4, 1)
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).where(Sighting.identity_id == ids[0])) == 0
        assert s.scalar(select(func.count()).select_from(Track).where(Track.identity_id == ids[0])) == 0
        assert s.scalar(select(func.count()).where(Embedding.identity_id == ids[0])) == 0
    assert count(gallery, Sighting) == 5 and [p.name for p in gallery.list_identities()] == ["cy"]
    assert all(e.identity_id != ids[0] for e in gallery.embeddings(unknown=True))


def test_not_this_person_is_respected_by_matching(trio) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    session = create_session(gallery.db, "/tmp/s2")
    recorder = SightingRecorder(gallery)
    obs = recorder.observe(session, 5, near(centres[0], 1), 0.0, 1.0)
    assert obs.result.identity_id == ids[0]
    gallery.add("ann", near(centres[0], 2)[None, :], track_id=obs.track_id)  # a window enrolled from that track
    assert gallery.not_this("ann", obs.track_id) == 1
    gallery.check_consistency()
    again = recorder.observe(session, 5, near(centres[0], 3), 1.0, 2.0)
    assert again.result.identity_id != ids[0] and all(c.identity_id != ids[0] for c in again.result.candidates)
    assert gallery.match(near(centres[0], 3)).identity_id == ids[0]  # other tracks still match ann
    assert count(gallery, NegativePair) == 1
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).where(Sighting.identity_id == ids[0])) == 0


def test_enrol_from_unknown_windows_and_from_a_track(gallery: Gallery) -> None:
    centres, _, _ = people(2, 1, seed=21)
    session = create_session(gallery.db, "/tmp/s3")
    recorder = SightingRecorder(gallery)
    first = [recorder.observe(session, 1, near(centres[0], i), i, i + 1.0) for i in range(3)]
    assert all(o.result.decision == "unknown" and o.embedding_id for o in first)
    dana = gallery.enrol("dana", embedding_ids=[o.embedding_id for o in first[:2]])
    assert gallery.get(dana).embeddings == 2 and len(gallery.embeddings(unknown=True)) == 1
    for i in range(3):
        recorder.observe(session, 2, near(centres[1], 50 + i), i, i + 1.0)
    eve = gallery.enrol("eve", track_id=recorder.track_id(session, 2))
    gallery.check_consistency()
    assert gallery.get(eve).embeddings == 3 and gallery.match(near(centres[1], 9)).identity_id == eve
    with pytest.raises(StorageError, match="already belong"):
        gallery.enrol("fay", embedding_ids=[first[0].embedding_id])
    assert [p.name for p in gallery.list_identities()] == ["dana", "eve"]


def test_older_model_versions_are_flagged_never_compared_and_reencoded(trio, db) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    newer = Gallery(db, "model-b", thresholds=THRESHOLDS)
    assert len(newer.index) == 0 and newer.match(near(centres[0], 1)).decision == "unknown"
    assert len(newer.stale_embeddings()) == 12 and newer.get("ann").stale_embeddings == 4
    old_vectors = {e.id: gallery.vectors([e.id])[0] for e in newer.stale_embeddings()}
    done, left = newer.reencode(lambda info: None if info.identity_id == ids[2] else -old_vectors[info.id])
    assert (done, left) == (8, 4)
    newer.check_consistency()
    assert newer.match(-near(centres[1], 4)).identity_id == ids[1]
    assert len(newer.stale_embeddings()) == 4 and len(gallery.stale_embeddings()) == 8


def test_export_import_round_trip(trio, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    gallery.update("bob", watchlist=True, notes="tall")
    path = tmp_path / "people.zip"
    assert gallery.export(path, ["bob", ids[2]]) == 2
    other = Gallery(open_database(tmp_path / "other.db"), "model-a", thresholds=THRESHOLDS)
    other.enrol("cy", people(1, 1, seed=50)[1])
    with pytest.raises(StorageError, match="already exists"):
        other.import_file(path)
    assert [p.name for p in other.list_identities()] == ["cy"]  # nothing half-imported
    other.import_file(path, on_conflict="merge")
    other.check_consistency()
    bob = other.get("bob")
    assert bob.watchlist and bob.notes == "tall" and bob.embeddings == 4 and other.get("cy").embeddings == 5
    np.testing.assert_array_equal(np.sort(other.vectors([e.id for e in other.embeddings("bob")]), axis=0),
                                  np.sort(gallery.vectors([e.id for e in gallery.embeddings("bob")]), axis=0))
    assert other.match(near(centres[1], 8)).name == "bob"
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(StorageError, match="not a readable gallery export"):
        other.import_file(tmp_path / "junk.zip")



def test_import_merge_of_an_identity_already_present_adds_only_new_vectors(trio, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, _ = trio
    path = tmp_path / "ann.zip"
    gallery.export(path, ["ann"])
    gallery.import_file(path, on_conflict="merge")  # the same windows: nothing to add
    gallery.check_consistency()
    assert gallery.get("ann").embeddings == 4 and len(gallery.index) == 12
    other = Gallery(open_database(tmp_path / "other.db"), "model-a", thresholds=THRESHOLDS)
    other.enrol("ann", np.stack([near(centres[0], 900), gallery.vectors([gallery.embeddings("ann")[0].id])[0]]))
    other.import_file(path, on_conflict="merge")  # one of the four is there already, bit for bit
    other.check_consistency()
    assert other.get("ann").embeddings == 5
    held = other.vectors([e.id for e in other.embeddings("ann")])
    assert len(np.unique(held, axis=0)) == 5


def test_edits_through_another_gallery_reach_this_index(trio, db_path) -> None:  # type: ignore[no-untyped-def]
    gallery, centres, ids = trio
    gallery.sync_interval_s = 0.0
    other = Gallery(open_database(db_path), "model-a", thresholds=THRESHOLDS)  # e.g. the GUI or the CLI
    other.delete("bob")
    assert gallery.match(near(centres[1], 1)).decision == "unknown"
    gallery.check_consistency()
    # both change the gallery in turn: each notices the other's change instead of patching a stale index
    newcomer = people(1, 3, seed=70)
    other.enrol("dee", newcomer[1])
    gallery.rename("cy", "cyrus")
    gallery.check_consistency()
    assert gallery.match(near(newcomer[0][0], 2)).name == "dee"
    other.sync()
    other.check_consistency()
    assert other.match(near(centres[2], 2)).name == "cyrus"
