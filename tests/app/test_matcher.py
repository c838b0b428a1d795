"""The pipeline's gallery matcher keeps naming tracks while another process holds the database."""
import sqlite3

import numpy as np
import pytest
from sqlalchemy import select

from app.config import load_config
from app.compose import make_matcher, open_gallery
from storage.sessions import create_session
from capture.buffer import Window
from storage.models import Sighting


def _window(track_id: int, t: float) -> Window:
    data = np.zeros((6, 20, 3), np.float32)
    return Window(track_id=track_id, data=data, t_start_s=t, t_end_s=t + 0.2, frame_indices=np.arange(6) + int(t * 30),
                  raw=data, filled=np.zeros(6, bool))


def _matcher(config, tmp_path):
    """The pipeline's matcher as app.compose builds it for the CLI, over model version "v1"."""
    gallery = open_gallery(config, "v1", 768)
    return make_matcher(config, gallery, lambda: create_session(gallery.db, tmp_path / "session"), owns_database=True)


def test_locked_database_does_not_stop_matching(tmp_path):
    db_path = tmp_path / "gallery.db"
    config = load_config(None, [f"storage.url=sqlite:///{db_path}", "storage.busy_timeout_s=0.2",
                                "gallery.accept_distance=5.0", "gallery.vote_min_windows=1"])
    rng = np.random.default_rng(0)
    person = rng.normal(size=768).astype(np.float32)
    matcher = _matcher(config, tmp_path)
    try:
        matcher.recorder.gallery.enrol("ann", np.stack([person + 0.01 * rng.normal(size=768) for _ in range(3)]))
        near = lambda: (person + 0.01 * rng.normal(size=768)).astype(np.float32)[None]  # noqa: E731
        named = []
        for step in range(3):
            identities, _ = matcher.decide([_window(7, step * 0.2)], near())
            named.append(identities[0].identity.name)
        assert named[-1] == "ann"
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            during, _ = matcher.decide([_window(7, 1.0), _window(8, 1.0)], np.concatenate([near(), near()]))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert during[0].identity.name == "ann" and during[0].identity.decision == "match"  # the track keeps its name
        assert during[1].identity.decision == "pending"                         # a new track waits for the database
        assert matcher.unsaved_windows == 2
        after, _ = matcher.decide([_window(8, 1.2)], near())
        assert after[0].identity.name == "ann"                                   # and matching goes on afterwards
    finally:
        matcher.close()



def test_a_lock_when_matching_starts_does_not_stop_it(tmp_path):
    """The matcher registers its session on its first batch, not when it is built: a pipeline that starts while
    another process holds the database waits for it instead of stopping its encoder stage."""
    db_path = tmp_path / "gallery.db"
    config = load_config(None, [f"storage.url=sqlite:///{db_path}", "storage.busy_timeout_s=0.2"])
    matcher = _matcher(config, tmp_path)  # the database is open
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        during, _ = matcher.decide([_window(3, 0.0)], np.ones((1, 768), np.float32))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        assert during[0].identity.decision == "pending" and matcher.session_id is None and matcher.unsaved_windows == 1
        matcher.decide([_window(3, 0.2)], np.ones((1, 768), np.float32))
        assert matcher.session_id is not None  # registered once the database was free
        with matcher.recorder.gallery.db.read() as s:  # the queued window's sighting too, in order
            assert s.scalars(select(Sighting.t_start_s).order_by(Sighting.id)).all() == [0.0, 0.2]
        assert matcher.unsaved_windows == 0
    finally:
        matcher.close()


def test_sightings_under_a_long_lock_are_queued_and_all_stored(tmp_path):
    """A gallery import holding the database across several batches: every window's sighting is stored once the
    lock goes, in order, and the queued windows are voted once (not again on the retry)."""
    db_path = tmp_path / "gallery.db"
    config = load_config(None, [f"storage.url=sqlite:///{db_path}", "storage.busy_timeout_s=0.1",
                                "gallery.accept_distance=5.0", "gallery.vote_min_windows=1"])
    rng = np.random.default_rng(1)
    person = rng.normal(size=768).astype(np.float32)
    near = lambda: (person + 0.01 * rng.normal(size=768)).astype(np.float32)[None]  # noqa: E731
    matcher = _matcher(config, tmp_path)
    try:
        matcher.recorder.gallery.enrol("ann", np.stack([near()[0] for _ in range(3)]))
        matcher.decide([_window(5, 0.0)], near())
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            for step in range(1, 4):  # three batches while the lock is held
                during, _ = matcher.decide([_window(5, step * 0.2)], near())
                assert during[0].identity.name == "ann"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert matcher.unsaved_windows == 3
        matcher.decide([_window(5, 0.8)], near())
        assert matcher.unsaved_windows == 0
        with matcher.recorder.gallery.db.read() as s:
            starts = s.scalars(select(Sighting.t_start_s).order_by(Sighting.id)).all()
        assert starts == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
        track = matcher.recorder.track_id(matcher.session_id, 5)
        assert matcher.recorder.voter.current(track).windows == 5  # each window voted once
    finally:
        matcher.close()


def _walk(matcher, track_id: int, start_s: float, look: np.ndarray, rng, windows: int = 6):
    """`windows` windows of one person (looking like `look`) as `track_id`, then the track ends; the names the
    matcher gave it, window by window."""
    names = []
    for i in range(windows):
        embedding = (look + 0.01 * rng.normal(size=768)).astype(np.float32)[None]
        decided, _ = matcher.decide([_window(track_id, start_s + 0.2 * i)], embedding)
        names.append(decided[0].identity.name)
    matcher.end_track(track_id)
    return names


def test_learned_transit_times_are_stored_and_the_next_run_starts_with_them(tmp_path):
    """Two cameras (tracks 1, 3, ... on A; 2, 4, ... on B). A confident hand-off from A to B stores the time it
    took; a matcher built later on the same database hands off a person who looks further away (beyond the
    gallery's distance, within the timed one) after a walk that long, as the first run's matcher would have.
    On a database without stored times the same walk is not handed off."""
    from storage.transits import load_transits

    def config(name: str):
        return load_config(None, [f"storage.url=sqlite:///{tmp_path / name}", "gallery.accept_distance=5.0",
                                  "gallery.vote_min_windows=1", "handoff.timed_accept_distance=20.0"])

    def matcher(name: str):
        gallery = open_gallery(config(name), "v1", 768)
        return make_matcher(config(name), gallery, lambda: create_session(gallery.db, tmp_path / "session"),
                            owns_database=True, cameras=("A", "B"))

    rng = np.random.default_rng(3)
    ann, bob = rng.normal(size=768), rng.normal(size=768)
    away = np.zeros(768)
    away[0] = 8.0  # bob on camera B: 8 from how he looked on A (the distance of two windows of one person ~0.3)
    first = matcher("site.db")
    try:
        _walk(first, 1, 0.0, ann, rng)  # ann leaves A at 1.2 s
        assert _walk(first, 2, 4.2, ann, rng)[-1].startswith("visitor"), "a confident hand-off names her on B"
        assert load_transits(first.recorder.gallery.db) == {("A", "B"): [pytest.approx(3.0)]}
    finally:
        first.close()

    for name, handed in (("site.db", True), ("fresh.db", False)):
        later = matcher(name)
        try:
            _walk(later, 3, 10.0, bob, rng)  # bob leaves A at 11.2 s, reaches B 3.5 s later, looking 8 away
            names = _walk(later, 4, 14.7, bob + away, rng)
            assert names[-1] is not None and names[-1].startswith("visitor") if handed else names[-1] is None, name
        finally:
            later.close()


def test_gallery_transits_lists_the_learned_times_and_clear_forgets_one_pair_or_all(tmp_path, capsys):
    from app.cli import main
    from storage.db import open_database
    from storage.transits import load_transits, record_transit

    url = f"sqlite:///{tmp_path / 'site.db'}"
    db = open_database(url)
    for gap in (2.0, 3.0, 5.0):
        record_transit(db, "door", "hall", gap)
    record_transit(db, "hall", "door", 8.0)

    assert main(["gallery", "--db", url, "transits"]) == 0
    out = capsys.readouterr().out
    assert "door -> hall: 3 hand-offs, 2.0-5.0 s (median 3.0 s)" in out
    assert "hall -> door: 1 hand-offs, 8.0-8.0 s" in out and "2 pairs of cameras" in out
    assert main(["gallery", "--db", url, "transits", "--clear", "door->hall"]) == 0
    assert "3 transit times forgotten" in capsys.readouterr().out
    assert load_transits(db) == {("hall", "door"): [8.0]}
    assert main(["gallery", "--db", url, "transits", "--clear", "door"]) == 2  # not a pair: refused, nothing gone
    assert "'A->B'" in capsys.readouterr().err and load_transits(db) == {("hall", "door"): [8.0]}
    assert main(["gallery", "--db", url, "transits", "--clear"]) == 0
    assert load_transits(db) == {}
    db.dispose()
