"""Multi-camera session folders: one single-camera session per camera, and the shared clock that lines them up.

    S/cameras.json   the cameras (each name is also its sub-folder's), the shared clock and each camera's offset
    S/<camera>/      a session folder exactly as app/session.py describes it (manifest, recording, JSON lines)

So every reader of one session (replay, training, `session check`) works on each sub-folder unchanged, and the
top level adds only what a single camera cannot know: which cameras belong together and how their times line up.
A camera's time on the shared clock is its stored time + `offset_s`. With the "media" clock (files and synthetic
scenes, whose times all start at one media epoch) the offset is the first recorded frame's media time minus the
time stored for it (a raw recording stores times from its first frame); with the "host" clock (any live camera:
each device counts from its own first frame) it is the host's wall clock at that frame's recording, from the
session's `started_utc`, minus the stored time. Rejected: storing shared times in each camera's files, which
would break the frame-time match between a camera's `recording.db3` and its skeleton cache.

`cameras.json` is written (atomically) before any camera's folder, and again as each camera's first frame fixes
its offset and when the last camera closes, so a kill leaves it readable and loses no more than a single camera's
session does. `session repair S` repairs every camera and rebuilds a corrupt `cameras.json` from the sub-folders.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from app.session import Manifest, SessionRecorder, SessionWriter, is_session
from app.session_records import CameraEntry, CamerasRecord, SessionError, parse_record
from capture.frames import Skeleton3D
from capture.sources import Source
from storage.files import write_atomic

logger = logging.getLogger(__name__)

CAMERAS = "cameras.json"


def is_multi_session(path: Path) -> bool:
    """A folder with a `cameras.json` (readable or not: a corrupt one is still a multi-camera session's)."""
    return Path(path).is_dir() and (Path(path) / CAMERAS).is_file()


def repair_hint(folder: Path) -> str:
    return f"run `./skelwatch session repair {folder}` to rebuild it from the camera folders"


def read_cameras(folder: Path) -> CamerasRecord:
    """Raises: SessionError naming `cameras.json`, what is wrong with it and the fix (`session repair`)."""
    path = Path(folder) / CAMERAS
    if not path.is_file():
        raise SessionError(f"{folder} is not a multi-camera session: it has no {CAMERAS}; record one with "
                           "`./skelwatch record --source A --source B --seconds S --out DIR`")
    return parse_record(path, CamerasRecord, repair_hint(folder))


def write_cameras(folder: Path, record: CamerasRecord) -> None:
    """Write `cameras.json` atomically: a kill mid-write leaves the old one, never half a file."""
    write_atomic(Path(folder) / CAMERAS, json.dumps(record.model_dump(), indent=2).encode("utf-8"))


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class MultiSessionRecorder:
    """Records several cameras into one session folder: a `SessionRecorder` per camera in its sub-folder, each
    wrapped so that its first frame fixes its offset on the shared clock (`recorders`, for
    `MultiPipeline.start_recording`). Each camera's tracking worker owns its recorder until it closes it."""

    def __init__(self, folder: Path, record: CamerasRecord, epoch: float, sessions: dict[str, SessionRecorder]) -> None:
        self.folder, self._record, self._epoch = Path(folder), record, epoch
        self._lock = threading.Lock()
        self.recorders = {name: _CameraRecorder(self, name, session) for name, session in sessions.items()}

    @classmethod
    def create(cls, folder: Path, cameras: Sequence[tuple[str, Source, str]], *, record_raw: bool = True,
               flush_interval_s: float = 0.5, keep_color: bool = True) -> "MultiSessionRecorder":
        """Start a session in `folder` for the cameras given as (name, source, spec); see `SessionRecorder.create`
        for the options, which apply to every camera.

        Raises:
            SessionError: the folder already holds a session, or cannot be written.
            SourceError: a camera's .db3 cannot be created.
        """
        folder = Path(folder)
        if is_session(folder) or is_multi_session(folder):
            raise SessionError(f"{folder} already holds a recorded session; choose a new --out folder "
                               "(sessions are never overwritten)")
        if folder.exists() and not folder.is_dir():
            raise SessionError(f"{folder} is a file, not a folder; name a new folder for the session with --out")
        SessionWriter.make_folder(folder)
        started = datetime.now(timezone.utc)
        record = CamerasRecord(started_utc=started.isoformat(timespec="milliseconds"),
                               clock="host" if any(source.is_live for _, source, _ in cameras) else "media",
                               cameras=[CameraEntry(name=name, source=spec) for name, _, spec in cameras])
        write_cameras(folder, record)
        sessions: dict[str, SessionRecorder] = {}
        try:
            for name, source, spec in cameras:
                sessions[name] = SessionRecorder.create(folder / name, source, spec, record_raw=record_raw,
                                                        flush_interval_s=flush_interval_s, keep_color=keep_color)
        except BaseException:
            for session in sessions.values():
                session.close()
            raise
        return cls(folder, record, started.timestamp(), sessions)

    def place(self, name: str, media_t_s: float, stored_t_s: float) -> None:
        """Camera `name` recorded its first frame (media time `media_t_s`, stored as `stored_t_s`): fix its offset."""
        shared = time.time() - self._epoch if self._record.clock == "host" else media_t_s
        with self._lock:
            self._record = self._record.model_copy(update={"cameras": [
                c.model_copy(update={"offset_s": round(shared - stored_t_s, 6)}) if c.name == name else c
                for c in self._record.cameras]})
            write_cameras(self.folder, self._record)

    def camera_closed(self) -> None:
        """A camera's recording closed; the last one to close finalises `cameras.json`."""
        with self._lock:
            if all(r.closed for r in self.recorders.values()):
                self._record = self._record.model_copy(update={"ended_utc": now_utc()})
                write_cameras(self.folder, self._record)

    def close(self) -> dict[str, Manifest]:
        """Close every camera's recording its worker has not closed (call after the pipeline stopped)."""
        return {name: recorder.close() for name, recorder in self.recorders.items()}


class _CameraRecorder:
    """One camera's `SessionRecorder` (a pipeline Recorder) that places the camera on the shared clock."""

    def __init__(self, site: MultiSessionRecorder, name: str, session: SessionRecorder) -> None:
        self.site, self.name, self.session = site, name, session
        self._manifest: Manifest | None = None

    @property
    def closed(self) -> bool:
        return self._manifest is not None

    def record(self, bundle: Any, skeletons: list[Skeleton3D], tracks: list[tuple[int, str, np.ndarray]]) -> None:
        first = self.session.writer.first_timestamp_s is None
        self.session.record(bundle, skeletons, tracks)
        if first:
            self.site.place(self.name, bundle.timestamp_s, self.session.writer.first_timestamp_s)

    def flush_if_due(self) -> None:
        self.session.flush_if_due()

    def close(self, dropped_frames: int = 0) -> Manifest:
        """Close the camera's session (once; later calls return its final manifest)."""
        if self._manifest is None:
            self._manifest = self.session.close(dropped_frames)
            self.site.camera_closed()
        return self._manifest
