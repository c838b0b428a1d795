"""Set-up builder of the demo gallery: the demo recording's people enrolled by name in the local database.

The demo recording (`<home>/demo/demo.db3`, see capture.sources.synthetic.build_demo_recording) carries the
true skeletons of its walkers in its JSON sidecar. Each identity is enrolled from the windows of its *first*
crossing of the room only, so its later visits in the recording are genuine re-identifications. Enrolment goes
through storage/ (`Gallery.enrol` / `Gallery.add`), with the model the pipeline uses, so the GUI opened on the
demo shows people tracked and named within seconds. Re-running is cheap: identities that already have
embeddings of the current model version are left alone; after a model change they get new ones.
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
    encoder runs at 30), so windows cut any other way describe a different motion and the second visits, seen
    through the buffer, would not match their own enrolment.

    Args:
        truth: per frame, a tuple of TruthSkeleton (camera-frame metres).
        fps: the recording's frame rate (frame i is at i / fps seconds).
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


def build_demo_gallery(config: SkelwatchConfig | None = None, recording: Path | None = None) -> str:
    """Set-up builder: enrol the demo recording's identities into the gallery database.

    Returns:
        A one-line status. Raises SkelwatchError subclasses for a missing demo recording or a locked database.
    """
    from app.compose import buffer_factory, database_location, encoder_factory, load_encoder, open_gallery
    from capture.sources.recording_meta import read_sidecar, sidecar_path
    from core.errors import SkelwatchError

    config = config or load_config(default_config_path())
    recording = recording or demo_recording_path()
    meta = read_sidecar(sidecar_path(recording))
    if meta is None:
        raise SkelwatchError(f"the demo recording's truth sidecar {sidecar_path(recording)} is missing or "
                             "unreadable; run `bash scripts/setup.sh` (it builds the recording first)")
    encoder = load_encoder(config)
    encode = encoder_factory(encoder, config)()
    windows = first_visit_windows(meta.truth, meta.fps, buffer_factory(config, encoder.frames))
    version = encoder.version
    gallery = open_gallery(config, version, encoder.dim, meta=encoder.meta)
    try:
        existing = {i.name: i for i in gallery.list_identities()}
        enrolled, refreshed = 0, 0
        for order, identity in enumerate(sorted(windows)):
            name = demo_name(identity, order)
            current = existing.get(name)
            if current is not None and current.embeddings > current.stale_embeddings:
                continue
            vectors = encode(windows[identity])  # (N, D)
            if current is None:
                gallery.enrol(name, vectors, notes=f"demo walker {identity}")
                enrolled += 1
            else:
                gallery.add(current.id, vectors)
                refreshed += 1
    finally:
        gallery.db.dispose()
    if not enrolled and not refreshed:
        return f"demo gallery: up to date ({len(windows)} people, model {version})"
    return (f"demo gallery: {enrolled} enrolled, {refreshed} re-encoded for model {version} "
            f"in {database_location(config)}")
