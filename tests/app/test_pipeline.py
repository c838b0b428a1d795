"""The pipeline runner on small synthetic scenes: ordering, determinism, live dropping, control, failures."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from app.config import load_config
from app.events import FrameResult, MatchEvent
from app.pipeline import (ControlError, Listener, Pipeline, PipelineOptions, PipelineSummary, QueueListener)
from app.compose import buffer_factory, build_pipeline, tracker_factory
from app.session import SessionRecorder, load_skeleton_cache, read_manifest
from capture.frames import FrameBundle
from capture.sources import Source
from capture.sources.synthetic import SyntheticScene
from capture.tracking import TrackingError

WAIT_S = 60.0  # generous upper bound for a test to wait on the pipeline; never a timing assertion


class Collect(Listener):
    def __init__(self) -> None:
        self.frames: list[FrameResult] = []
        self.matches: list[MatchEvent] = []
        self.errors: list[tuple[str, BaseException]] = []
        self.summaries: list[PipelineSummary] = []
        self.got_frame = threading.Condition()

    def on_frame(self, result: FrameResult) -> None:
        with self.got_frame:
            self.frames.append(result)
            self.got_frame.notify_all()

    def on_match(self, event: MatchEvent) -> None:
        self.matches.append(event)

    def on_error(self, stage: str, error: BaseException) -> None:
        self.errors.append((stage, error))

    def on_finished(self, summary: PipelineSummary) -> None:
        self.summaries.append(summary)

    def wait_frames(self, count: int) -> None:
        with self.got_frame:
            assert self.got_frame.wait_for(lambda: len(self.frames) >= count, WAIT_S)


class FrameList(Source):
    """Frames given in advance, as a file (or, with live=True, a camera that delivers them instantly)."""

    def __init__(self, frames: list[FrameBundle], live: bool = False) -> None:
        self.frames, self.live, self.closed = frames, live, False

    name = property(lambda self: "frame list")
    is_live = property(lambda self: self.live)
    has_depth = property(lambda self: False)
    intrinsics = property(lambda self: None)
    fps = property(lambda self: 15.0)

    def __iter__(self) -> Iterator[FrameBundle]:
        yield from self.frames

    def close(self) -> None:
        self.closed = True


def scene_frames(people: int = 2, seconds: float = 4.0) -> list[FrameBundle]:
    """A synthetic scene's frames without images: only the skeletons matter to tracking."""
    scene = SyntheticScene(people, seconds, 15.0, seed=3, width=80, height=60)  # tiny images: fast to render
    return [FrameBundle(b.index, b.timestamp_s, None, None, None, b.truth) for b in scene]


@pytest.fixture(scope="module")
def frames() -> list[FrameBundle]:
    return scene_frames()


def replay(frames: list[FrameBundle], **kwargs: object) -> tuple[Collect, PipelineSummary]:
    collect = Collect()
    pipeline = build_pipeline(load_config(), FrameList(frames), speed=None, listeners=(collect,), **kwargs)
    summary = pipeline.run()
    return collect, summary


def test_replay_processes_every_frame_in_order_and_encodes_every_window(frames: list[FrameBundle]) -> None:
    collect, summary = replay(frames)
    assert [r.frame_index for r in collect.frames] == [b.index for b in frames]
    assert summary.completed and not summary.errors and summary.dropped_frames == 0
    assert summary.frames == len(frames) and summary.windows > 0 and summary.windows_encoded == summary.windows
    assert len(collect.matches) == summary.windows and {m.identity.decision for m in collect.matches} == {"unknown"}
    assert summary.confirmed_tracks >= 2
    assert collect.summaries == [summary]  # on_finished exactly once, with the same totals
    # A track view carries its skeleton; people in view are confirmed after a while.
    views = [v for r in collect.frames for v in r.tracks]
    assert all(v.joints_3d.shape == (20, 3) and v.state in ("tentative", "confirmed", "lost") for v in views)


def test_replay_is_deterministic(frames: list[FrameBundle]) -> None:
    first, _ = replay(frames)
    second, _ = replay(frames)

    def ids(collect: Collect) -> list[tuple[int, ...]]:
        return [tuple((v.track_id, v.state, v.identity.decision) for v in r.tracks) for r in collect.frames]

    assert ids(first) == ids(second)
    assert [(m.track_id, m.start_s, m.timestamp_s) for m in first.matches] == \
        [(m.track_id, m.start_s, m.timestamp_s) for m in second.matches]


def test_live_source_drops_oldest_frames_under_load_and_counts_them(frames: list[FrameBundle]) -> None:
    many = [FrameBundle(i, i / 15.0, None, None, None, frames[i % len(frames)].truth) for i in range(600)]
    config = load_config(overrides=["pipeline.frame_queue=1"])
    collect = Collect()
    source = FrameList(many, live=True)
    pipeline = build_pipeline(config, source, listeners=(collect,))
    summary = pipeline.run()
    processed = [r.frame_index for r in collect.frames]
    assert summary.frames_read == 600 and summary.dropped_frames > 0
    assert len(processed) + summary.dropped_frames == 600
    assert processed == sorted(processed) and processed[-1] == 599  # oldest dropped; the newest always arrives
    assert [r.dropped_frames for r in collect.frames] == sorted(r.dropped_frames for r in collect.frames)
    assert source.closed


def test_pause_step_seek_resume(frames: list[FrameBundle]) -> None:
    collect = Collect()
    pipeline = build_pipeline(load_config(), FrameList(frames), speed=None, listeners=(collect,))
    pipeline.pause()
    pipeline.start()
    pipeline.step(3)
    collect.wait_frames(3)
    assert pipeline.paused and [r.frame_index for r in collect.frames] == [0, 1, 2]
    pipeline.seek(1.0)  # this file cannot seek: ignored with a warning, playback goes on where it was
    pipeline.resume()
    assert pipeline.wait(WAIT_S)
    summary = pipeline.stop()
    assert summary.frames == len(frames) and not summary.errors
    assert [r.frame_index for r in collect.frames] == [b.index for b in frames]


def test_seek_restarts_tracks_at_the_new_time() -> None:
    scene = SyntheticScene(2, 4.0, 15.0, seed=3, width=80, height=60)
    collect = Collect()
    pipeline = build_pipeline(load_config(), scene, speed=None, skeletons_given=True, listeners=(collect,))
    pipeline.pause()
    pipeline.start()
    pipeline.step(5)
    collect.wait_frames(5)
    pipeline.seek(3.0)
    pipeline.resume()
    assert pipeline.wait(WAIT_S)
    pipeline.stop()
    times = [r.timestamp_s for r in collect.frames]
    assert times[:5] == pytest.approx([i / 15.0 for i in range(5)])
    assert times[5] == pytest.approx(3.0) and times[-1] == pytest.approx(59 / 15.0)
    assert len(times) == 5 + 15


def test_speed_is_checked_and_live_sources_cannot_seek(frames: list[FrameBundle]) -> None:
    pipeline = build_pipeline(load_config(), FrameList(frames, live=True))
    with pytest.raises(ControlError, match="0.25x to 8.0x"):
        pipeline.set_speed(20)
    with pytest.raises(ControlError, match="live source"):
        pipeline.seek(1.0)
    pipeline.set_speed(None)
    pipeline.set_speed(0.25)


def test_a_failing_stage_is_reported_and_the_pipeline_stops(frames: list[FrameBundle]) -> None:
    backwards = frames[:10] + [FrameBundle(10, 0.1, None, None, None, frames[10].truth)] + frames[11:]
    collect = Collect()
    pipeline = build_pipeline(load_config(), FrameList(backwards), speed=None, listeners=(collect,))
    pipeline.start()
    assert pipeline.wait(WAIT_S)
    summary = pipeline.stop()
    assert [stage for stage, _ in collect.errors] == ["tracking"]
    assert isinstance(collect.errors[0][1], TrackingError)
    assert summary.errors and "tracking" in summary.errors[0] and not summary.completed
    assert len(collect.frames) == 10


def test_stop_mid_replay_returns_and_keeps_the_recording(tmp_path: Path) -> None:
    scene = SyntheticScene(2, 20.0, 15.0, seed=3, width=80, height=60)
    collect = Collect()
    pipeline = build_pipeline(load_config(), scene, speed=1.0, skeletons_given=True, listeners=(collect,))
    recorder = SessionRecorder.create(tmp_path / "rec", scene, "synthetic", record_raw=False)
    pipeline.start_recording(recorder)
    pipeline.start()
    collect.wait_frames(10)
    summary = pipeline.stop()
    assert not summary.completed and summary.frames < scene.num_frames
    manifest = read_manifest(tmp_path / "rec")
    assert manifest.complete and manifest.frames == summary.frames
    assert len(load_skeleton_cache(tmp_path / "rec")) == summary.frames


def test_recording_can_start_and_stop_while_running(tmp_path: Path, frames: list[FrameBundle]) -> None:
    collect = Collect()
    source = FrameList(frames)
    pipeline = build_pipeline(load_config(), source, speed=None, listeners=(collect,))
    pipeline.pause()
    pipeline.start()
    pipeline.start_recording(SessionRecorder.create(tmp_path / "part", source, record_raw=False))
    pipeline.step(12)
    collect.wait_frames(12)
    manifest = pipeline.stop_recording()
    assert manifest is not None and manifest.frames == 12
    pipeline.resume()
    assert pipeline.wait(WAIT_S)
    pipeline.stop()
    assert sorted(load_skeleton_cache(tmp_path / "part")) == list(range(12))


def test_queue_listener_keeps_matches_and_the_summary() -> None:
    listener = QueueListener(maxsize=8)
    pipeline = Pipeline(FrameList(scene_frames(1, 2.0)), tracker_factory(load_config()),
                        buffer_factory(load_config(), 6), options=PipelineOptions(speed=None),
                        listeners=(listener,))
    summary = pipeline.run()
    events = []
    while not listener.events.empty():
        events.append(listener.events.get_nowait())
    assert events[-1] == summary  # the summary is never dropped, and comes last
    assert sum(isinstance(e, FrameResult) for e in events) <= 8
    assert all(not isinstance(e, tuple) for e in events)  # no error


def test_skeleton_cache_replaces_pose(frames: list[FrameBundle]) -> None:
    cache_from = Collect()
    build_pipeline(load_config(), FrameList(frames), speed=None, listeners=(cache_from,)).run()
    cache = {r.frame_index: [] for r in cache_from.frames}
    empty = [FrameBundle(b.index, b.timestamp_s, np.zeros((4, 4, 3), np.uint8), None, None, ()) for b in frames]
    collect, summary = replay(empty, skeleton_cache=cache)
    assert summary.pose_cache_hits == len(frames) and summary.pose_estimated == 0


def test_gallery_names_a_track_once_its_windows_are_enrolled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             frames: list[FrameBundle]) -> None:
    from app.compose import load_encoder, open_gallery

    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path))
    first, summary = replay(frames, gallery=True, session_label="first run")
    assert not summary.errors and {m.identity.decision for m in first.matches} <= {"pending", "unknown", "ambiguous"}
    config = load_config()
    encoder = load_encoder(config)
    gallery = open_gallery(config, encoder.version, encoder.dim, meta=encoder.meta)
    db = gallery.db
    try:
        unknown = gallery.embeddings(unknown=True)
        assert len(unknown) == summary.windows_encoded  # every unmatched window was kept for enrolment
        track1 = [e.id for e in unknown if e.track_key == 1 and e.session_path == "first run"]
        assert track1
        gallery.enrol("alice", embedding_ids=track1)
    finally:
        db.dispose()
    second, _ = replay(frames, gallery=True, session_label="second run")
    named = [v.identity for r in second.frames for v in r.tracks if v.track_id == 1 and v.identity.name == "alice"]
    assert named and all(i.decision == "match" and 0 < i.confidence <= 1 for i in named)
    assert named[0].level_distances is not None and len(named[0].level_distances) == 3
    assert any(m.track_id == 1 and m.identity.name == "alice" for m in second.matches)


def held_at_end(people: int) -> tuple[Pipeline, Collect]:
    """A 2 s, 30-frame replay that holds at its end (the GUI's), played until it waits there."""
    scene = SyntheticScene(people, 2.0, 15.0, seed=3, width=80, height=60)
    collect = Collect()
    pipeline = build_pipeline(load_config(), scene, speed=None, skeletons_given=True, hold_at_end=True,
                              listeners=(collect,))
    pipeline.start()
    collect.wait_frames(30)
    for _ in range(int(WAIT_S / 0.02)):
        if pipeline.at_end:
            break
        threading.Event().wait(0.02)
    return pipeline, collect


def test_hold_at_end_waits_for_a_seek_and_plays_again() -> None:
    pipeline, collect = held_at_end(1)
    assert pipeline.at_end and not pipeline.finished and pipeline.paused and len(collect.frames) == 30
    pipeline.seek(1.0)
    pipeline.resume()
    collect.wait_frames(45)
    summary = pipeline.stop()
    assert [r.frame_index for r in collect.frames[30:]] == list(range(15, 30))
    assert summary.frames == 45 and not summary.errors


def test_played_again_from_the_start_tracks_get_new_ids() -> None:
    """A replay that loops (or is sought back) tracks afresh, and its ids go on from the last one given: the
    track list, the votes and the sightings never see one id for two tracks."""
    pipeline, collect = held_at_end(2)
    pipeline.seek(0.0)
    pipeline.resume()
    collect.wait_frames(60)
    pipeline.stop()
    first = {v.track_id for r in collect.frames[:30] for v in r.tracks}
    again = {v.track_id for r in collect.frames[30:60] for v in r.tracks}
    assert first and again
    assert min(again) > max(first)
