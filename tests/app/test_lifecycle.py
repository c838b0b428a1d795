"""Per-track state lives as long as the track: a long run with people coming and going stays bounded.

Every structure that keeps something per track (the tracker, the buffer, the tracking stage's identity table,
the encoder's running embeddings, the matcher's last decisions, the voter, the sighting recorder, the alert
rules' windows) is released when the tracker deletes the track. Before, the matcher side kept every track
ever seen, so a camera running for a week grew without bound.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from app.compose import build_pipeline
from app.config import load_config
from app.pipeline import Listener
from app.events import FrameResult
from capture.sources.synthetic import SyntheticScene
from storage.alerts import add_rule
from storage.db import open_database

PEOPLE = 3
MINUTES = 10.0


class SizeSampler(Listener):
    """The largest size each per-track structure reached, sampled every frame."""

    def __init__(self) -> None:
        self.pipeline = None
        self.peak: dict[str, int] = {}
        self.confirmed: set[int] = set()
        self.epochs = 0

    def on_frame(self, result: FrameResult) -> None:
        self.confirmed.update(v.track_id for v in result.tracks if v.state == "confirmed")
        for name, size in self.pipeline.state_sizes().items():
            self.peak[name] = max(self.peak.get(name, 0), size)


@pytest.mark.parametrize("visits", [60])
def test_ten_minutes_of_people_coming_and_going_keep_per_track_state_bounded(tmp_path: Path, visits: int) -> None:
    db_path = tmp_path / "gallery.db"
    db = open_database(db_path)
    add_rule(db, "strangers", "unknown", n_windows=1, of_last=2, cooldown_s=0.0)  # alert windows per track
    db.dispose()
    # Few windows per track (stride 30) keep the run short; each of the 60 segments of 10 s brings 3 people.
    config = load_config(None, [f"storage.url={db_path}", "buffer.stride=30", "gallery.store_unknown_windows=false"])
    scene = SyntheticScene(n_people=PEOPLE, seconds=60 * MINUTES, fps=10.0, seed=5, visits=visits, width=64,
                           height=48)
    sampler = SizeSampler()
    pipeline = build_pipeline(config, scene, speed=None, skeletons_given=True, gallery=True,
                              session_label="soak", listeners=(sampler,))
    sampler.pipeline = pipeline
    pipeline.start()
    assert pipeline.wait(600.0)
    summary = pipeline.stop()
    assert not summary.errors
    seen = summary.confirmed_tracks
    assert seen >= PEOPLE * visits // 2, sampler.peak  # people came and went: up to a track per person per visit
    # In view at once: at most the people of two overlapping segments, plus tracks still coasting or lost.
    bound = 4 * PEOPLE
    assert set(sampler.peak) >= {"tracker tracks", "buffer tracks", "identity table", "embedding sums",
                                 "matcher decisions", "recorder tracks", "voter tracks", "alert tracks"}
    too_big = {name: size for name, size in sampler.peak.items() if size > bound}
    assert not too_big, f"per-track state grew with the {seen} tracks seen: {too_big}"
    print(f"{seen} tracks seen; peak sizes {sampler.peak}")
    assert sampler.peak["voter tracks"] > 0 and sampler.peak["alert tracks"] > 0  # the structures were used
