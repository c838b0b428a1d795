"""The bundled demo keeps its promise: every walker's visits, the first and the second, are named, as that walker
(enrolled from other walks of theirs, so each is a genuine re-identification), and no skeleton is shown where
nobody is. It runs the demo as set-up builds it (same scene, same gallery builder, the shipped model) through the
real pipeline, and checks each shown track against the recording's truth."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from app.config import load_config
from app.demo import build_demo_gallery, demo_name
from app.events import FrameResult, MatchEvent
from app.pipeline import Listener
from capture.sources.recording_meta import read_sidecar, sidecar_path

SAME_PERSON_M = 0.05  # the demo hands the tracker the truth skeletons: a shown one sits on its person


class Collect(Listener):
    def __init__(self) -> None:
        self.frames: list[FrameResult] = []
        self.matches: list[MatchEvent] = []
        self.errors: list[tuple[str, BaseException]] = []

    def on_frame(self, result: FrameResult) -> None:
        self.frames.append(result)

    def on_match(self, event: MatchEvent) -> None:
        self.matches.append(event)

    def on_error(self, stage: str, error: BaseException) -> None:
        self.errors.append((stage, error))


def visits(truth: list[tuple], fps: float) -> dict[str, list[tuple[float, float]]]:
    """identity -> its visits as (first, last) seconds in view."""
    out: dict[str, list[list[float]]] = defaultdict(list)
    previous: set[str] = set()
    for index, frame in enumerate(truth):
        present = {s.identity for s in frame}
        for s in frame:
            if s.identity not in previous:
                out[s.identity].append([index / fps, index / fps])
            out[s.identity][-1][1] = index / fps
        previous = present
    return {identity: [tuple(v) for v in runs] for identity, runs in out.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo recording and gallery, built as set-up builds them, replayed once through the pipeline."""
    from app.compose import build_pipeline
    from capture.sources import open_source
    from capture.sources.synthetic import DEMO_FPS, DEMO_PEOPLE, DEMO_SECONDS, DEMO_SEED, SyntheticScene, record_scene

    root = tmp_path_factory.mktemp("demo")
    recording = root / "demo.db3"
    record_scene(SyntheticScene(DEMO_PEOPLE, DEMO_SECONDS, DEMO_FPS, DEMO_SEED), recording)
    config = load_config(None, [f"storage.url={root / 'gallery.db'}"])
    assert "4 enrolled" in build_demo_gallery(config)
    listener = Collect()
    pipeline = build_pipeline(config, open_source(str(recording)), speed=None, skeletons_given=True, gallery=True,
                              listeners=(listener,))
    pipeline.start()
    while not pipeline.wait(0.2):
        pass
    pipeline.stop()
    assert listener.errors == []
    return read_sidecar(sidecar_path(recording)), listener


def carried(meta, frames: list[FrameResult]) -> dict[int, set[str]]:
    """track id -> the walkers its shown skeletons sat on; fails on a skeleton shown with nobody under it."""
    people: dict[int, set[str]] = defaultdict(set)
    for result in frames:
        truth = meta.truth[result.frame_index]
        for view in result.tracks:
            if not view.observed:  # a coasting track: the window shows no skeleton for it
                continue
            gaps = [float(np.linalg.norm(view.joints_3d[0] - s.joints[0])) for s in truth]
            assert gaps and min(gaps) < SAME_PERSON_M, (
                f"frame {result.frame_index} ({result.timestamp_s:.2f} s): track {view.track_id} is drawn where "
                f"nobody is (people in view: {len(truth)})")
            people[view.track_id].add(truth[int(np.argmin(gaps))].identity)
    return people


def test_no_skeleton_is_shown_without_a_person_and_tracks_never_swap(demo) -> None:
    meta, listener = demo
    assert len(listener.frames) == meta.frames
    people = carried(meta, listener.frames)
    assert all(len(walkers) == 1 for walkers in people.values()), people
    empty = [r for r in listener.frames if not meta.truth[r.frame_index]]
    assert empty and all(not any(v.observed for v in r.tracks) for r in empty)


def test_every_visit_is_named_as_its_walker(demo) -> None:
    meta, listener = demo
    names = {identity: demo_name(identity, order) for order, identity in enumerate(sorted(visits(meta.truth,
                                                                                                  meta.fps)))}
    walker_of = {track: walkers.pop() for track, walkers in carried(meta, listener.frames).items()}
    for identity, runs in visits(meta.truth, meta.fps).items():
        assert len(runs) == 2, f"{identity} visits {runs}: the demo scene should bring everyone back once"
        tracks = {t for t, w in walker_of.items() if w == identity}
        for number, (start, end) in enumerate(runs, 1):
            during = [m for m in listener.matches if m.track_id in tracks and start <= m.timestamp_s <= end + 0.5]
            assert during, f"{names[identity]}'s visit {number} ({start:.1f}-{end:.1f} s) got no window matched"
            assert during[-1].identity.name == names[identity], (
                f"{names[identity]}'s visit {number} ended as {during[-1].identity.label!r}")
    for event in listener.matches:  # nobody is ever named as someone else
        walker = walker_of.get(event.track_id)
        assert event.identity.name in (None, names.get(walker)), (event.track_id, walker, event.identity)


def test_an_earlier_demo_enrolment_is_replaced_and_a_current_one_kept(tmp_path) -> None:
    from app.compose import load_encoder, open_gallery
    from app.demo import DEMO_NAMES

    config = load_config(None, [f"storage.url={tmp_path / 'gallery.db'}"])
    encoder = load_encoder(config)
    gallery = open_gallery(config, encoder.version, encoder.dim, meta=encoder.meta)
    try:  # Ada as an earlier release enrolled her (the recording's own first visit), and a person of the site's
        gallery.enrol("Ada", np.ones((2, encoder.dim), np.float32), notes="demo walker syn000")
        gallery.enrol("Zoe", np.ones((2, encoder.dim), np.float32), notes="the site's own")
    finally:
        gallery.db.dispose()
    status = build_demo_gallery(config)
    assert "4 enrolled (1 of them enrolled before from other windows)" in status, status
    assert build_demo_gallery(config).startswith("demo gallery: up to date")
    gallery = open_gallery(config, encoder.version, encoder.dim, meta=encoder.meta)
    try:
        people = {i.name: i for i in gallery.list_identities()}
        assert set(people) == {*DEMO_NAMES[:4], "Zoe"} and people["Zoe"].embeddings == 2
        assert people["Ada"].notes.startswith("demo walker syn000, enrolled from walks on paths")
        assert people["Ada"].embeddings > 2  # her walks' windows, not the two stand-ins
    finally:
        gallery.db.dispose()


def test_the_enrolment_is_not_the_recording(demo) -> None:
    """No window of the recording is its own enrolment: a named window sits at a distance from its person."""
    _, listener = demo
    named = [m.identity.level_distances for m in listener.matches
             if m.identity.name is not None and m.identity.level_distances is not None]
    assert len(named) >= 20 and all(max(d) > 1.0 for d in named), min(named, key=max, default=None)
