"""Hand-off between two cameras: do people who walk from camera A to camera B keep one identity, and does
nobody take someone else's?

    python -m bench.handoff [--rounds 8] [--people 12] [--size 160x120]

Each round is a synthetic two-camera site (capture.sources.synthetic.SyntheticScene): camera A sees `people`
walkers cross its room once each, one every 14 s; camera B, the same room shape with other paths, sees `people`
walkers too: first as many people never seen on A (strangers, one every 14 s, while A's first people walk),
then the last half of A's (the crossers), each entering B 2-6 s after leaving A's view (the walk between the
cameras). handoff.transit_s is 20 s both ways, so a new track is offered every track of the other camera that
ended in the 20 s before it started: strangers are offered A's earlier people, A's people B's strangers.
Nobody is enrolled: the gallery (a fresh SQLite file, real faiss) starts empty, as at a site on its first day,
so every name is a hand-off's "visitor". Both cameras run in one MultiPipeline (shared encoder and gallery, the
shipped model and its calibrated match distance, the gallery's votes), as fast as possible.

Tracks are tied to people by the truth skeletons the scene hands over (a shown skeleton is its person's).
- handoff_accuracy: share of crossers whose B track is named with the identity made of (or held by) their A
  track: the person kept one identity across the cameras. A crosser left unnamed counts as a miss.
- false_handoffs: share of all appearances (each person's main track on each camera) named after another
  person's track on the other camera.
- fps_per_camera: frames each camera processed per second of wall time while both ran (2 cores shared).
Targets: accuracy >= 0.95, false hand-offs <= 0.02. The last line is
`RESULT handoff_accuracy=<f> false_handoffs=<f> fps_per_camera=<f>`.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from app.config import SkelwatchConfig, load_config
from app.compose import build_multi_pipeline, open_db
from app.events import FrameResult, MatchEvent
from app.pipeline import Listener
from app.pipeline.multi import Camera
from capture.sources.synthetic import SyntheticScene
from storage.identities import person_tracks, track_locations

FPS = 15.0
SPACING_S = 14.0        # between two people entering a camera's view: longer than a crossing plus
                        # tracking.delete_after_s, so the tracker never takes a newcomer for the one who just left
GAP_S = (2.0, 6.0)      # the walk from A's view to B's, drawn per crosser
TRANSIT_S = 20.0        # handoff.transit_s, both ways: a crosser is offered the A person before them too
SAME_PERSON_M = 1e-4    # a shown skeleton is the truth skeleton it was made from


def last_seen_s(scene: SyntheticScene) -> dict[str, float]:
    """identity -> the last second its skeleton is handed over (in view)."""
    out: dict[str, float] = {}
    for index in range(scene.num_frames):
        for person in scene.truth(index):
            out[person.identity] = index / FPS
    return out


@dataclass(frozen=True)
class HandoffFigures:
    crossers: int
    handed_right: int       # crossers named after their own A track
    appearances: int        # people's main tracks, on either camera
    handed_wrong: int       # appearances named after another person's track on the other camera
    fps_per_camera: float

    @property
    def accuracy(self) -> float:
        return self.handed_right / self.crossers if self.crossers else 0.0

    @property
    def false_rate(self) -> float:
        return self.handed_wrong / self.appearances if self.appearances else 0.0


class TruthCollector(Listener):
    """Which person each track's skeletons sat on, and each track's last decision."""

    def __init__(self, scenes: dict[str, SyntheticScene]) -> None:
        self.scenes = scenes
        self.people: dict[int, Counter] = defaultdict(Counter)  # track id -> person -> frames
        self.camera: dict[int, str] = {}
        self.last: dict[int, MatchEvent] = {}
        self.errors: list[str] = []

    def on_frame(self, result: FrameResult) -> None:
        truth = self.scenes[result.camera].truth(result.frame_index)
        for view in result.tracks:
            if not view.observed:
                continue
            for person in truth:
                if np.abs(person.joints - view.joints_3d).max() < SAME_PERSON_M:
                    self.people[view.track_id][person.identity] += 1
                    self.camera[view.track_id] = result.camera

    def on_match(self, event: MatchEvent) -> None:
        self.last[event.track_id] = event

    def on_error(self, stage: str, error: BaseException) -> None:
        self.errors.append(f"{stage}: {error}")


def two_cameras(seed: int, people: int, size: tuple[int, int]) -> dict[str, SyntheticScene]:
    """Camera A: `people` walkers, one every SPACING_S. Camera B: first `people // 2` strangers, one every
    SPACING_S, then A's last `people // 2` walkers, each GAP_S after leaving A's view."""
    width, height = size
    half = people // 2
    rng = np.random.default_rng([seed, 7])
    name = "syn{:03d}".format
    seconds = (people + 2) * SPACING_S
    a = SyntheticScene(people, seconds, FPS, seed, visits=1, width=width, height=height,
                       entry_s={name(i): i * SPACING_S + float(rng.uniform(0, 2)) for i in range(people)})
    left = last_seen_s(a)
    entries = {name(i): left[name(i)] + float(rng.uniform(*GAP_S)) for i in range(half, people) if name(i) in left}
    entries.update({name(people + k): k * SPACING_S + float(rng.uniform(0, 2)) for k in range(half)})
    b = SyntheticScene(people, seconds + GAP_S[1], FPS, seed, visits=1, width=width, height=height,
                       first_person=half, path_seed=seed + 500, entry_s=entries)
    return {"A": a, "B": b}


def run_round(config: SkelwatchConfig, seed: int, people: int, size: tuple[int, int], db: Path) -> tuple[
        HandoffFigures, list[str]]:
    """One two-camera site; returns its figures and the pipeline errors (none expected)."""
    scenes = two_cameras(seed, people, size)
    return score_site(config, scenes, [Camera(name, scene, True) for name, scene in scenes.items()], db,
                      f"handoff round {seed}")


def score_site(config: SkelwatchConfig, scenes: dict[str, SyntheticScene], cameras: list[Camera], db: Path,
               label: str) -> tuple[HandoffFigures, list[str]]:
    """Run `cameras` as one site with the gallery in `db` and score its hand-offs against the `scenes`' truth
    (by camera name and frame index): the scenes themselves, or a recording of them replayed."""
    collect = TruthCollector(scenes)
    config = config.model_copy(update={"storage": config.storage.model_copy(update={"url": str(db)}),
                                       "handoff": config.handoff.model_copy(update={"transit_s": TRANSIT_S})})
    pipeline = build_multi_pipeline(config, cameras, speed=None, gallery=True, session_label=label,
                                    listeners=(collect,))
    summaries = pipeline.run()
    owner = {track: counts.most_common(1)[0][0] for track, counts in collect.people.items()}
    main: dict[tuple[str, str], int] = {}  # (camera, person) -> their longest track there
    for track, person in owner.items():
        key = (collect.camera[track], person)
        if key not in main or sum(collect.people[track].values()) > sum(collect.people[main[key]].values()):
            main[key] = track
    made_of = identity_tracks(config, {e.identity.id for e in collect.last.values() if e.identity.id is not None})
    right = wrong = crossers = 0
    for (camera, person), track in main.items():
        event = collect.last.get(track)
        identity = event.identity.id if event is not None else None
        others = {owner[t] for t in made_of.get(identity, ()) if t in owner and collect.camera[t] != camera}
        crosses = camera == "B" and ("A", person) in main
        crossers += crosses
        right += crosses and person in others
        wrong += bool(others - {person})
    fps = float(np.mean([s.fps for s in summaries.values()]))
    return HandoffFigures(crossers, right, len(main), wrong, fps), collect.errors


def identity_tracks(config: SkelwatchConfig, identities: set[int]) -> dict[int, set[int]]:
    """identity -> the tracker ids of its tracks (voted for it, or enrolled into it by a hand-off)."""
    database = open_db(config)
    try:
        with database.read() as s:
            return {i: {key for _, key in track_locations(s, person_tracks(s, i))} for i in identities}
    finally:
        database.dispose()


def measure(config: SkelwatchConfig, seeds: Iterable[int], people: int, size: tuple[int, int], folder: Path
            ) -> HandoffFigures:
    """Sum the figures of one site per seed, each with its own gallery file under `folder`.

    Raises:
        RuntimeError: a pipeline stage failed.
    """
    total = HandoffFigures(0, 0, 0, 0, 0.0)
    fps = []
    for seed in seeds:
        figures, errors = run_round(config, seed, people, size, folder / f"round{seed}.db")
        if errors:
            raise RuntimeError(f"round {seed}: {errors}")
        logging.getLogger(__name__).info("round %d: %s", seed, figures)
        fps.append(figures.fps_per_camera)
        total = HandoffFigures(total.crossers + figures.crossers, total.handed_right + figures.handed_right,
                               total.appearances + figures.appearances, total.handed_wrong + figures.handed_wrong,
                               0.0)
    return HandoffFigures(total.crossers, total.handed_right, total.appearances, total.handed_wrong,
                          float(np.mean(fps)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="synthetic sites, one seed each")
    parser.add_argument("--people", type=int, default=12, help="walkers per camera (half of B's come from A)")
    parser.add_argument("--size", default="160x120", help="rendered image size WxH (skeletons are given)")
    parser.add_argument("--accept-distance", type=float, default=None,
                        help="handoff.accept_distance (default: the gallery's, the model's calibrated distance)")
    parser.add_argument("--first-seed", type=int, default=1, help="seed of the first round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(None, [f"handoff.accept_distance={args.accept_distance}"] if args.accept_distance else [])
        figures = measure(config, range(args.first_seed, args.first_seed + args.rounds), args.people,
                          (width, height), Path(folder))
    print(f"{figures.crossers} people crossed from A to B: {figures.handed_right} kept their identity; "
          f"{figures.handed_wrong} of {figures.appearances} appearances were named after someone else")
    print(f"RESULT handoff_accuracy={figures.accuracy:.4f} false_handoffs={figures.false_rate:.4f} "
          f"fps_per_camera={figures.fps_per_camera:.1f}")


if __name__ == "__main__":
    main()
