"""The pipeline's gallery matcher keeps naming tracks while another process holds the database."""
import sqlite3

import numpy as np
from sqlalchemy import func, select

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
            named.append(identities[0].identity_name)
        assert named[-1] == "ann"
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            during, _ = matcher.decide([_window(7, 1.0), _window(8, 1.0)], np.concatenate([near(), near()]))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert during[0].identity_name == "ann" and during[0].decision == "match"  # the track keeps its name
        assert during[1].decision == "pending"                         # a new track waits for the database
        assert matcher.unsaved_windows == 2
        after, _ = matcher.decide([_window(8, 1.2)], near())
        assert after[0].identity_name == "ann"                                   # and matching goes on afterwards
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
        assert during[0].decision == "pending" and matcher.session_id is None and matcher.unsaved_windows == 1
        matcher.decide([_window(3, 0.2)], np.ones((1, 768), np.float32))
        assert matcher.session_id is not None  # registered once the database was free
        with matcher.recorder.gallery.db.read() as s:
            assert s.scalar(select(func.count()).select_from(Sighting)) == 1
    finally:
        matcher.close()
