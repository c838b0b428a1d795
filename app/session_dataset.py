"""Recorded session folders as an unlabelled training set: each track's observed skeletons become sequences.

`./skelwatch train --data SESSION_DIR...` trains on the windows of these sequences (of every camera, for a
multi-camera session: app/session_cameras.py). There are no labels: a
sequence's `identity` is its track ("<session>/track<id>"), which training never reads (pseudo-labels come
from clustering). A track's frames are split where it was unseen for longer than `max_gap_s`, because a window
must not span a gap; joints go from the camera frame to the model's convention (`capture.buffer.camera_to_model`)
exactly as the live window buffer does, so training and inference see the same coordinates.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from app.session import MANIFEST, TRACKS, TrackRecord, is_session, load_tracks, read_manifest
from app.session_cameras import is_multi_session, read_cameras
from capture.buffer import camera_to_model
from reid.datasets.base import RepairReport, Sequence, SkeletonDataset
from reid.errors import DatasetError

FORMAT_NAME = "session"


def is_session_folder(path: str | Path) -> bool:
    """The format detector: a folder with a skelwatch session manifest, or a multi-camera session."""
    return is_session(Path(path)) or is_multi_session(Path(path))


def _segments(records: list[TrackRecord], max_gap_s: float) -> list[list[TrackRecord]]:
    """Split one track's records (in time order) where consecutive frames are more than `max_gap_s` apart."""
    out: list[list[TrackRecord]] = []
    for record in records:
        if out and record.timestamp_s - out[-1][-1].timestamp_s <= max_gap_s:
            out[-1].append(record)
        else:
            out.append([record])
    return out


def load(path: str | Path, *, max_gap_s: float = 0.2, min_frames: int = 2,
         states: tuple[str, ...] = ("confirmed",)) -> SkeletonDataset:
    """Read a session folder's tracks as a `SkeletonDataset` (every sequence is for training; no probe sets).

    A multi-camera session gives every camera's tracks, each camera's a sequence of its own ("<session>/<camera>/
    track<id>"); a camera whose folder is missing is skipped and counted in the report.
    Args:
        max_gap_s: longest gap within one sequence (seconds); longer gaps split it.
        min_frames: shorter pieces are dropped and counted in the report.
        states: track states whose frames are used (tentative tracks are often false starts).
    Raises:
        DatasetError: not a session folder, or one without any usable track.
        SessionError: a multi-camera session's cameras.json is corrupt (naming the fix).
    """
    folder = Path(path)
    if is_multi_session(folder):
        parts = [(folder / c.name, f"{folder.name}/{c.name}") for c in read_cameras(folder).cameras]
    elif is_session(folder):
        parts = [(folder, folder.name)]
    else:
        raise DatasetError(f"{folder} is not a recorded session (no manifest.json); record one with "
                           "`./skelwatch record --source SOURCE --seconds S --out DIR`")
    report = RepairReport()
    sequences = []
    for sub, label in parts:
        if is_session(sub):
            sequences += _sequences(sub, label, report, max_gap_s, min_frames, states)
        else:
            report.skip(label, f"{sub} is not a session (no {MANIFEST}): the camera's folder is missing")
    if not sequences:
        where = folder / TRACKS if len(parts) == 1 else folder
        raise DatasetError(f"{where}: no {'/'.join(states)} track of at least {min_frames} frames to "
                           f"train on ({report.summary()}); record longer or with people in view")
    return SkeletonDataset(name=f"session:{folder.name}", layout="kinect_v1", sequences=sequences, probe_sets=[],
                           train=tuple(range(len(sequences))), report=report)


def _sequences(folder: Path, label: str, report: RepairReport, max_gap_s: float, min_frames: int,
               states: tuple[str, ...]) -> list[Sequence]:
    """One single-camera session's tracks as sequences named "<label>/track<id>" (see `load`)."""
    manifest = read_manifest(folder)
    by_track: dict[int, list[TrackRecord]] = defaultdict(list)
    for record in load_tracks(folder):
        report.frames_read += 1
        if record.state in states and np.isfinite(record.joints).all():
            by_track[record.track_id].append(record)
        else:
            report.frames_dropped += 1
    sequences = []
    for track_id, records in sorted(by_track.items()):
        for k, piece in enumerate(_segments(records, max_gap_s)):
            name = f"{label}/track{track_id}" + (f"/part{k}" if k else "")
            if len(piece) < min_frames:
                report.skip(name, f"{len(piece)} frames < min_frames={min_frames}", is_file=False)
                continue
            joints = camera_to_model(np.stack([r.joints for r in piece]))  # (T, 20, 3)
            sequences.append(Sequence(joints=joints, identity=f"{label}/track{track_id}", name=name,
                                      fps=manifest.fps))
    return sequences


def register_format() -> None:
    """Add the "session" format to reid.datasets.FORMATS (reid never imports app/, so app/ registers it).

    Call it before `load_dataset` where sessions may be given (the train command); calling twice is harmless.
    """
    from reid.datasets import FORMATS, DatasetFormat

    FORMATS.setdefault(FORMAT_NAME, DatasetFormat(FORMAT_NAME, load, is_session_folder,
                                                  "a recorded skelwatch session folder, one camera's or several's (their "
                                                  "confirmed tracks)",
                                                  {"max_gap_s": float, "min_frames": int}))
