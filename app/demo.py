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

import numpy as np

from app.config import SkelwatchConfig, default_config_path, home_dir, load_config

logger = logging.getLogger(__name__)

DEMO_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Eve", "Femi", "Gus", "Hana")


def demo_recording_path() -> Path:
    """Where set-up writes the demo recording (its truth sidecar sits next to it)."""
    return home_dir() / "demo" / "demo.db3"


def demo_name(identity: str, order: int) -> str:
    """A friendly name for the `order`-th synthetic identity (the synthetic id is kept in the notes)."""
    return DEMO_NAMES[order] if order < len(DEMO_NAMES) else f"Person {order + 1}"


def first_visit_windows(truth: list[tuple], frames: int) -> dict[str, np.ndarray]:
    """Non-overlapping f-frame windows of each identity's first continuous run in the truth.

    Args:
        truth: per frame, a tuple of TruthSkeleton (camera-frame metres).
        frames: window length f.
    Returns:
        identity -> (N, f, 20, 3) float32 windows, model convention, root-centred per frame.
    """
    from capture.buffer import camera_to_model
    from reid.skeleton import root_centre

    runs: dict[str, list[np.ndarray]] = defaultdict(list)
    closed: set[str] = set()
    previous: set[str] = set()
    for frame in truth:
        present = {s.identity for s in frame}
        for s in frame:
            if s.identity not in closed:
                runs[s.identity].append(s.joints)
        closed |= previous - present  # a run ends when its identity leaves the picture
        previous = present
    out = {}
    for identity, joints in runs.items():
        n = len(joints) // frames
        if n == 0:
            continue
        seq = camera_to_model(np.stack(joints[: n * frames]))  # (n f, 20, 3)
        out[identity] = root_centre(seq).reshape(n, frames, *seq.shape[1:]).astype(np.float32)
    return out


def build_demo_gallery(config: SkelwatchConfig | None = None, recording: Path | None = None) -> str:
    """Set-up builder: enrol the demo recording's identities into the gallery database.

    Returns:
        A one-line status. Raises SkelwatchError subclasses for a missing demo recording or a locked database.
    """
    from app.compose import database_location, encoder_factory, load_encoder, open_gallery
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
    windows = first_visit_windows(meta.truth, encoder.frames)
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
