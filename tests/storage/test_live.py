"""The per-window write path: sightings, track votes, watchlist alerts with cooldown, unknown clustering."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import func, select

from storage.alerts import AlertEngine, acknowledge, add_rule, events_query
from storage.errors import StorageError
from storage.gallery import Gallery
from storage.live import SightingRecorder
from storage.models import Sighting, Track
from storage.sessions import create_session, sightings_query
from storage.unknowns import cluster_unknowns
from tests.storage.conftest import near, people

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_sightings_store_decisions_distances_and_the_voted_track_identity(gallery: Gallery) -> None:
    centres, x, y = people(2, 4)
    ann = gallery.enrol("ann", x[y == 0])
    session = create_session(gallery.db, "/tmp/live", device="synthetic")
    recorder = SightingRecorder(gallery)
    obs = [recorder.observe(session, 4, near(centres[0], i), i * 0.2, i * 0.2 + 1.2) for i in range(4)]
    assert [o.track_identity.identity_id for o in obs] == [None, None, ann, ann]
    assert all(o.result.decision == "match" and o.embedding_id is None for o in obs)
    stranger = recorder.observe(session, 5, people(1, 1, seed=8)[0][0], 0.0, 1.0, seen_at=T0)
    with gallery.db.read() as s:
        assert [x.id for x in s.scalars(sightings_query(decision="unknown"))] == [stranger.sighting_id]
        assert len(s.scalars(sightings_query(identity_id=ann, since=T0 + timedelta(seconds=1))).all()) == 4
        rows = s.scalars(select(Sighting).where(Sighting.identity_id == ann).order_by(Sighting.id)).all()
        track = s.get(Track, obs[0].track_id)
        assert track.identity_id == ann and (track.t_start_s, track.t_end_s) == pytest.approx((0.0, 1.8))
    assert [r.decision for r in rows] == ["match"] * 4
    assert rows[0].distance == pytest.approx(obs[0].result.distance)
    assert set(rows[0].level_distances) == {"joint", "component", "limb"}
    with pytest.raises(StorageError):
        recorder.observe(session, 4, np.zeros(100, np.float32), 0.0, 1.0)
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Sighting)) == 5


def test_watchlist_alert_fires_on_n_of_m_windows_with_cooldown(gallery: Gallery) -> None:
    centres, x, y = people(2, 4)
    ann = gallery.enrol("ann", x[y == 0], watchlist=True)
    gallery.enrol("bob", x[y == 1])
    rule = add_rule(gallery.db, "watch", "watchlist", n_windows=3, of_last=4, min_confidence=0.5, cooldown_s=60)
    with pytest.raises(StorageError, match="n_windows"):
        add_rule(gallery.db, "bad", "watchlist", n_windows=5, of_last=4)
    session = create_session(gallery.db, "/tmp/alerts")
    recorder = SightingRecorder(gallery, alerts=AlertEngine(gallery.db))
    stranger = people(1, 1, seed=123)[0][0]
    fired = []
    for i, who in enumerate([centres[1], centres[0], stranger, centres[0], centres[0], centres[0]]):
        obs = recorder.observe(session, 1, near(who, i), i, i + 1.0, seen_at=T0 + timedelta(seconds=i))
        fired.append(len(obs.alerts))
    assert fired == [0, 0, 0, 0, 1, 0]  # third ann window in the last 4 fires; the next is in cooldown
    later = recorder.observe(session, 1, near(centres[0], 40), 70, 71, seen_at=T0 + timedelta(seconds=70))
    assert len(later.alerts) == 1 and later.alerts[0].identity_id == ann
    for i in range(4):  # bob is not watchlisted: no alert
        assert not recorder.observe(session, 2, near(centres[1], 60 + i), i, i + 1.0, seen_at=T0).alerts
    with gallery.db.read() as s:
        events = s.scalars(events_query(rule_id=rule)).all()
        assert [e.identity_id for e in events] == [ann, ann] and events[0].fired_at == T0 + timedelta(seconds=70)
        assert len(s.scalars(events_query(since=T0 + timedelta(seconds=10))).all()) == 1
    acknowledge(gallery.db, events[0].id)
    with gallery.db.read() as s:
        assert len(s.scalars(events_query(unacknowledged=True)).all()) == 1


def test_unknown_rule_alerts_per_track(gallery: Gallery) -> None:
    gallery.enrol("ann", people(1, 3)[1])
    add_rule(gallery.db, "strangers", "unknown", n_windows=2, of_last=3, min_confidence=0.5, cooldown_s=300)
    session = create_session(gallery.db, "/tmp/unk")
    recorder = SightingRecorder(gallery, alerts=AlertEngine(gallery.db))
    strangers = people(2, 1, seed=31)[0]
    out = [len(recorder.observe(session, k, near(strangers[k], i), i, i + 1.0, seen_at=T0).alerts)
           for i in range(3) for k in (0, 1)]
    assert out == [0, 0, 1, 1, 0, 0]


def test_unknown_windows_cluster_into_candidates_across_sessions(gallery: Gallery) -> None:
    gallery.enrol("ann", people(1, 3)[1])
    strangers = people(2, 1, seed=41, spread=0.0)[0]
    recorder = SightingRecorder(gallery)
    for s_index in range(2):
        session = create_session(gallery.db, f"/tmp/day{s_index}")
        for k, centre in enumerate(strangers):
            for i in range(4):
                recorder.observe(session, k, near(centre, 1000 * s_index + 10 * k + i), i, i + 1.0)
    candidates = cluster_unknowns(gallery, eps=0.6, min_samples=2, k1=6, k2=3)
    assert [c.size for c in candidates] == [8, 8]
    assert all(len(c.session_ids) == 2 and len(c.track_ids) == 2 for c in candidates)
    first = gallery.enrol("unknown one", embedding_ids=candidates[0].embedding_ids)
    centre = strangers[0] if gallery.match(near(strangers[0], 5)).identity_id == first else strangers[1]
    assert gallery.match(near(centre, 6)).identity_id == first
    assert [c.size for c in cluster_unknowns(gallery, eps=0.6, min_samples=2, k1=6, k2=3)] == [8]


def test_a_batch_is_one_transaction_and_a_bad_window_stores_nothing(gallery: Gallery) -> None:
    centres, x, y = people(2, 4)
    ann = gallery.enrol("ann", x[y == 0])
    session = create_session(gallery.db, "/tmp/batch")
    recorder = SightingRecorder(gallery)
    with pytest.raises(StorageError, match="dimension 768"):
        recorder.observe_batch(session, [(1, near(centres[0], 1), 0.0, 1.0), (2, np.zeros(5), 0.0, 1.0)])
    out = recorder.observe_batch(session, [(1, near(centres[0], i), i, i + 1.0) for i in range(3)]
                                 + [(2, near(centres[1], 9), 0.0, 1.0)])
    assert [o.result.identity_id for o in out[:3]] == [ann] * 3 and out[2].track_identity.identity_id == ann
    assert out[3].result.decision == "unknown" and out[3].embedding_id is not None
    with gallery.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Sighting)) == 4


def test_a_track_removed_while_running_gets_a_new_row(gallery: Gallery) -> None:
    centres, x, y = people(2, 4)
    ann = gallery.enrol("ann", x[y == 0])
    session = create_session(gallery.db, "/tmp/again")
    recorder = SightingRecorder(gallery)
    first = [recorder.observe(session, 3, near(centres[0], i), i, i + 1.0) for i in range(3)]
    gallery.forget(ann)  # removes the track the recorder was writing to
    assert first[-1].track_identity.identity_id == ann
    later = recorder.observe(session, 3, near(centres[1], 9), 5.0, 6.0)
    assert later.result.decision == "unknown" and later.track_identity.identity_id is None
    with gallery.db.read() as s:
        track = s.get(Track, later.track_id)
        assert (track.session_id, track.track_key, track.identity_id) == (session, 3, None)
        assert (track.t_start_s, track.t_end_s) == (5.0, 6.0)  # a new row, not the forgotten one


def test_deleting_a_watched_identity_while_running_loses_no_sighting(gallery: Gallery) -> None:
    centres, x, y = people(2, 4)
    ann = gallery.enrol("ann", x[y == 0])
    add_rule(gallery.db, "ann only", "identity", identity=ann, n_windows=2, of_last=3, cooldown_s=0)
    session = create_session(gallery.db, "/tmp/race")
    recorder = SightingRecorder(gallery, alerts=AlertEngine(gallery.db))
    assert not recorder.observe(session, 1, near(centres[0], 1), 0.0, 1.0, seen_at=T0).alerts
    other = Gallery(gallery.db, "model-a", thresholds=gallery.thresholds)  # e.g. the GUI, on another thread
    other.delete(ann)  # cascades to the rule; the running recorder still holds both in memory
    gallery.sync_interval_s = 1e9  # and has not re-indexed yet: its next match still says "ann"
    obs = recorder.observe(session, 1, near(centres[0], 2), 1.0, 2.0, seen_at=T0)
    assert obs.result.identity_id == ann and not obs.alerts
    with gallery.db.read() as s:
        stored = s.get(Sighting, obs.sighting_id)
        assert (stored.identity_id, stored.decision) == (None, "unknown")
