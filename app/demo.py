"""Set-up builder of the demo gallery: the demo recording's people enrolled by name in the local database.

The demo recording (`<home>/demo/demo.db3`, see capture.sources.synthetic.build_demo_recording) shows four
synthetic walkers, each crossing the room twice. They are enrolled from *other* walks of theirs: the same people
(the scene's seed) on paths drawn from ENROLMENT_PATH_SEEDS, as if each had walked past the camera twice before
the recording began. So every visit in the recording is a genuine re-identification, with the distances a real
one has (enrolling from the recording's own first visits matched those visits against themselves, at distance 0).
Enrolment goes through storage/ (`Gallery.enrol` / `Gallery.add`), with the model the pipeline uses, so the GUI
opened on the demo shows people tracked and named within seconds. Re-running is cheap: identities that already
have embeddings of the current model version are left alone; after a model change they get new ones.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from app.config import SkelwatchConfig, default_config_path, home_dir, load_config

if TYPE_CHECKING:
    from capture.buffer import Window, WindowBuffer

logger = logging.getLogger(__name__)

DEMO_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Eve", "Femi", "Gus", "Hana")
# Path seeds of the walks the demo people are enrolled from (one walk each). Measured with the shipped model on
# four pairs of draws (507+508, 1007+1008, 2007+2008, 3007+3008): 31 of the recording's 32 visits named, none as
# someone else; this pair names all eight (tests/app/test_demo.py holds the demo to that).
ENROLMENT_PATH_SEEDS = (507, 508)


def demo_recording_path() -> Path:
    """Where set-up writes the demo recording (its truth sidecar sits next to it)."""
    return home_dir() / "demo" / "demo.db3"


def demo_name(identity: str, order: int) -> str:
    """A friendly name for the `order`-th synthetic identity (the synthetic id is kept in the notes)."""
    return DEMO_NAMES[order] if order < len(DEMO_NAMES) else f"Person {order + 1}"


def first_visit_windows(truth: list[tuple], fps: float, make_buffer: Callable[[], WindowBuffer]
                        ) -> dict[str, np.ndarray]:
    """The windows the pipeline would cut from each identity's first continuous run in the truth.

    Why the product's own buffer: it resamples to the encoder's frame rate (the demo is recorded at 15 fps, the
    encoder runs at 30), so windows cut any other way describe a different motion and the recording's visits, seen
    through the buffer, would not match their enrolment.

    Args:
        truth: per frame, a tuple of TruthSkeleton (camera-frame metres).
        fps: the walk's frame rate (frame i is at i / fps seconds).
        make_buffer: the pipeline's window buffer factory (`app.compose.buffer_factory`).
    Returns:
        identity -> (N, f, 20, 3) float32 windows, model convention, root-centred per frame.
    """
    from capture.frames import Skeleton3D

    buffer = make_buffer()
    track_of: dict[str, int] = {}
    closed: set[str] = set()
    windows: list[Window] = []
    for index, frame in enumerate(truth):
        present = {s.identity for s in frame}
        for gone in set(track_of) - present - closed:  # a run ends when its identity leaves the picture
            buffer.end(track_of[gone])
            closed.add(gone)
        for s in frame:
            if s.identity in closed:
                continue
            track = track_of.setdefault(s.identity, len(track_of) + 1)
            buffer.push(track, Skeleton3D(s.joints, np.ones(len(s.joints), np.float32), None, index / fps, index))
        windows += buffer.drain(buffer.pending)  # drained as they come: the buffer keeps a bounded queue
    for identity in set(track_of) - closed:
        buffer.end(track_of[identity])
    windows += buffer.drain(buffer.pending)
    identity_of = {track: identity for identity, track in track_of.items()}
    by_identity: dict[str, list[np.ndarray]] = defaultdict(list)
    for window in windows:
        by_identity[identity_of[window.track_id]].append(window.data)
    return {identity: np.stack(data) for identity, data in by_identity.items()}  # Window.data is float32


def enrolment_walks() -> list[list[tuple]]:
    """Per walk of ENROLMENT_PATH_SEEDS, the demo people's truth skeletons frame by frame (nothing rendered)."""
    from capture.sources.synthetic import DEMO_FPS, DEMO_PEOPLE, DEMO_SECONDS, DEMO_SEED, SyntheticScene

    walks = []
    for path_seed in ENROLMENT_PATH_SEEDS:
        scene = SyntheticScene(DEMO_PEOPLE, DEMO_SECONDS, DEMO_FPS, DEMO_SEED, visits=1, path_seed=path_seed)
        walks.append([scene.truth(index) for index in range(scene.num_frames)])
    return walks


def build_demo_gallery(config: SkelwatchConfig | None = None) -> str:
    """Set-up builder: enrol the demo people, from their enrolment walks, into the gallery database.

    Returns:
        A one-line status. Raises SkelwatchError subclasses for a locked database.
    """
    from capture.sources.synthetic import DEMO_FPS

    walks = "walks on paths " + ", ".join(str(seed) for seed in ENROLMENT_PATH_SEEDS)
    return enrol_walkers(config or load_config(default_config_path()), enrolment_walks(), DEMO_FPS, walks)


def enrol_walkers(config: SkelwatchConfig, walks: list[list[tuple]], fps: float, source: str) -> str:
    """Enrol every synthetic identity in `walks` (each a list of frames of TruthSkeleton, at `fps`) by its demo
    name, from the windows of its first continuous run in each walk; `source` says which walks, in the notes.

    A demo identity enrolled from other walks (an earlier release enrolled the recording's own first visits) is
    deleted and enrolled again: its old windows would match those visits at distance 0.

    Returns:
        A one-line status. Raises SkelwatchError subclasses for a locked database.
    """
    from app.compose import buffer_factory, database_location, encoder_factory, load_encoder, open_gallery

    encoder = load_encoder(config)
    encode = encoder_factory(encoder, config)()
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for truth in walks:
        for identity, data in first_visit_windows(truth, fps, buffer_factory(config, encoder.frames)).items():
            parts[identity].append(data)
    windows = {identity: np.concatenate(data) for identity, data in parts.items()}
    version = encoder.version
    gallery = open_gallery(config, version, encoder.dim, meta=encoder.meta)
    try:
        existing = {i.name: i for i in gallery.list_identities()}
        enrolled, refreshed, replaced = 0, 0, 0
        for order, identity in enumerate(sorted(windows)):
            name = demo_name(identity, order)
            notes = f"demo walker {identity}, enrolled from {source}"
            current = existing.get(name)
            if current is not None and current.notes.startswith("demo walker") and current.notes != notes:
                gallery.delete(current.id)
                current, replaced = None, replaced + 1
            if current is not None and current.embeddings > current.stale_embeddings:
                continue
            vectors = encode(windows[identity])  # (N, D)
            if current is None:
                gallery.enrol(name, vectors, notes=notes)
                enrolled += 1
            else:
                gallery.add(current.id, vectors)
                refreshed += 1
    finally:
        gallery.db.dispose()
    if not enrolled and not refreshed:
        return f"demo gallery: up to date ({len(windows)} people, model {version})"
    return (f"demo gallery: {enrolled} enrolled ({replaced} of them enrolled before from other windows), "
            f"{refreshed} re-encoded for model {version} in {database_location(config)}")
