"""The JSON sidecar of a recording made by skelwatch: what a RealSense .db3 cannot hold.

`<name>.db3.json` keeps the frame rate, the frame count and duration in media time (the .db3 only knows the
wall-clock time of writing, which for a rendered scene is far shorter), and the ground-truth skeletons of each
frame when the recorded frames carried any (the synthetic scene does). Joints are camera-frame metres rounded
to 0.1 mm. A sidecar that cannot be read is ignored with a warning: the recording itself is still good.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from capture.frames import TruthSkeleton

logger = logging.getLogger(__name__)

FORMAT = "skelwatch-recording-sidecar"
VERSION = 1


@dataclass(frozen=True)
class RecordingMeta:
    fps: float
    duration_s: float
    truth: list[tuple[TruthSkeleton, ...]]  # one tuple per frame, by frame index

    @property
    def frames(self) -> int:
        return len(self.truth)


def sidecar_path(recording: Path) -> Path:
    """`demo.db3` -> `demo.db3.json`."""
    return recording.with_name(recording.name + ".json")


def _skeleton_to_json(skeleton: TruthSkeleton) -> dict:
    return {"identity": skeleton.identity, "joints": np.round(skeleton.joints.astype(np.float64), 4).tolist()}


def write_sidecar(path: Path, fps: float, duration_s: float, truth: Sequence[Sequence[TruthSkeleton]]) -> None:
    """Write the sidecar (atomically: a temporary file renamed over the old one)."""
    body = {"format": FORMAT, "version": VERSION, "fps": fps, "duration_s": duration_s, "frames": len(truth),
            "truth": [[_skeleton_to_json(s) for s in frame] for frame in truth]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)


def read_sidecar(path: Path) -> RecordingMeta | None:
    """The sidecar's content, or None when there is none or it cannot be read (logged)."""
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("format") != FORMAT or body.get("version") != VERSION:
            raise ValueError(f"not a version-{VERSION} {FORMAT}")
        truth = [tuple(TruthSkeleton(item["identity"], np.asarray(item["joints"], dtype=np.float32))
                       for item in frame) for frame in body["truth"]]
        return RecordingMeta(float(body["fps"]), float(body["duration_s"]), truth)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("%s: ignoring the unreadable sidecar (%s); frames will carry no ground truth", path, exc)
        return None
