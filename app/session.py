"""Recorded session folders: the raw recording, the extracted skeletons and tracks, and a manifest.

A session is a folder that a crash cannot spoil:

- `manifest.json`: device, source, intrinsics, software versions, start time, fps; rewritten (atomically, via a
  temporary file and `os.replace`) when the session closes, with the frame count and duration.
- `recording.db3`: the RealSense SDK recording (ROS 2 bag) of color and depth, when the source has them.
- `skeletons.jsonl`: the pose output, one JSON line per frame ("the skeleton cache"). Replay reads it instead of
  re-running pose, so re-running re-ID on a session never re-runs pose.
- `tracks.jsonl`: the tracker's confirmed and tentative tracks per frame, with their joints, so the folder is also
  an unlabelled training set (`app/session_dataset.py`).

Both JSON-lines files are append-only and flushed at least every `flush_interval_s` (< 1 s), so a `kill -9` loses
at most that much (the recording thread also flushes while no frame comes, e.g. paused); a half-written last line
is ignored on reading (`app/session_records.py` validates every record; `session repair` drops such a line and
finalises the manifest). Only the recorder writes these files: replay and training never change a session.
Folders are created 0700 and files 0600 (they hold biometric data). JSON-lines rather than SQLite: a reader needs nothing but the standard library, and
appending a line is the whole transaction. `recording.db3.json` beside the .db3 is the SDK recording's sidecar.

Replaying a session (cache only, or images from the recording): `app/session_replay.py`. Several cameras
recorded together: a folder of such sessions on one clock, `app/session_cameras.py`.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Iterable

import numpy as np

from app.session_records import (SessionError, SkeletonLine, SkeletonRecord, TrackLine, nan_joints, parse_manifest,
                                 read_lines)
from capture.frames import Intrinsics, Skeleton3D
from capture.sources import Source
from reid.datasets.base import RepairReport
from storage.files import commit_temp, make_private_dir, open_private_append, private_temp_path, write_atomic

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RECORDING = "recording.db3"
SKELETONS = "skeletons.jsonl"
TRACKS = "tracks.jsonl"
FORMAT_VERSION = 1
_DECIMALS = 4  # 0.1 mm and 0.1 px: far below sensor noise, and it keeps the lines short


@dataclass
class Manifest:
    """What a session was recorded from and with. Times are UTC ISO 8601; fps is the source's nominal rate."""

    source: str
    device: str
    fps: float
    started_utc: str
    intrinsics: dict[str, Any] | None = None
    software: dict[str, str] = field(default_factory=dict)
    has_recording: bool = False
    format_version: int = FORMAT_VERSION
    color_recorded: bool = True  # False in the skeleton-only privacy mode: the recording's colour frames are black
    ended_utc: str | None = None
    frames: int | None = None
    duration_s: float | None = None
    dropped_frames: int | None = None

    @property
    def complete(self) -> bool:
        """True when the session was closed properly (not killed)."""
        return self.ended_utc is not None


@dataclass(frozen=True)
class TrackRecord:
    """One track in one frame as stored in `tracks.jsonl`."""

    frame_index: int
    timestamp_s: float
    track_id: int
    state: str
    joints: np.ndarray  # (20, 3) float32 metres, camera frame


def software_versions() -> dict[str, str]:
    """The versions that decide what a session contains: skelwatch's git commit and the capture libraries."""
    versions: dict[str, str] = {}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        commit = ""
    versions["skelwatch"] = commit or "unknown"
    for package in ("mediapipe", "pyrealsense2", "torch", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def intrinsics_to_dict(intrinsics: Intrinsics | None) -> dict[str, Any] | None:
    if intrinsics is None:
        return None
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(intrinsics).items()}


def new_manifest(source: str, device: str, fps: float, intrinsics: Intrinsics | None,
                 has_recording: bool) -> Manifest:
    return Manifest(source=source, device=device, fps=float(fps),
                    started_utc=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    intrinsics=intrinsics_to_dict(intrinsics), software=software_versions(),
                    has_recording=has_recording)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write the manifest atomically: a kill mid-write leaves the old one, never half a file."""
    write_atomic(Path(folder) / MANIFEST, json.dumps(asdict(manifest), indent=2).encode("utf-8"))


def read_manifest(folder: Path) -> Manifest:
    """Raises: SessionError when `folder` is not a session or its manifest is unreadable."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise SessionError(f"{folder} is not a skelwatch session: it has no {MANIFEST}; record one with "
                           "`./skelwatch record --source SOURCE --out DIR`")
    record = parse_manifest(path)
    return Manifest(**record.model_dump())


def is_session(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def _round(array: np.ndarray | None) -> Any:
    return None if array is None else np.round(np.asarray(array, dtype=np.float64), _DECIMALS).tolist()


def skeleton_to_json(skeleton: Skeleton3D) -> dict[str, Any]:
    return {"j": _round(skeleton.joints), "c": _round(skeleton.confidence),
            "b": None if skeleton.box is None else [float(v) for v in skeleton.box],
            "k": _round(skeleton.keypoints_2d), "a": _round(skeleton.appearance)}


def skeleton_from_record(item: SkeletonRecord, frame_index: int, timestamp_s: float) -> Skeleton3D:
    return Skeleton3D(joints=np.asarray(nan_joints(item.j), dtype=np.float32),
                      confidence=np.asarray(item.c, dtype=np.float32),
                      box=None if item.b is None else tuple(item.b),  # type: ignore[arg-type]
                      timestamp_s=timestamp_s, frame_index=frame_index,
                      keypoints_2d=None if item.k is None else np.asarray(nan_joints(item.k), dtype=np.float32),
                      appearance=None if item.a is None else np.asarray(item.a, dtype=np.float32))


def skeleton_line(frame_index: int, timestamp_s: float, skeletons: Iterable[Skeleton3D]) -> dict[str, Any]:
    """One frame of the skeleton cache as it is stored (a `SkeletonLine`)."""
    return {"frame": int(frame_index), "t": round(float(timestamp_s), 6), "s": [skeleton_to_json(s) for s in skeletons]}


class JsonLinesWriter:
    """An append-only JSON-lines file flushed to the OS at least every `flush_interval_s`."""

    def __init__(self, path: Path, flush_interval_s: float) -> None:
        self.path = path
        self._file: IO[str] = open_private_append(path)
        self._interval = flush_interval_s
        self._last_flush = time.monotonic()
        self._dirty = False

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._dirty = True
        self.flush_if_due()

    def flush_if_due(self) -> None:
        now = time.monotonic()
        if self._dirty and now - self._last_flush >= self._interval:
            self._file.flush()
            self._last_flush, self._dirty = now, False

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


class SessionWriter:
    """Appends skeletons and tracks of each processed frame to a session folder (owned by one thread).

    Args:
        folder: the session folder (created; an existing session's files are appended to).
        manifest: written now and rewritten by `close()` with the totals.
        flush_interval_s: most time a record stays in memory before it reaches the OS (and survives kill -9).
    """

    def __init__(self, folder: Path, manifest: Manifest, flush_interval_s: float = 0.5) -> None:
        self.folder = self.make_folder(Path(folder))
        self.manifest = manifest
        write_manifest(self.folder, manifest)
        self._skeletons = JsonLinesWriter(self.folder / SKELETONS, flush_interval_s)
        self._tracks = JsonLinesWriter(self.folder / TRACKS, flush_interval_s)
        self.frames = 0
        self._first_ts: float | None = None
        self._last_ts: float | None = None

    @staticmethod
    def make_folder(folder: Path) -> Path:
        """Create the session folder (0700). Raises SessionError naming the folder and the reason."""
        try:
            return make_private_dir(folder)
        except OSError as exc:
            raise SessionError(f"cannot create the session folder {folder} ({exc.strerror}); pick a writable "
                               "--out of at most 255 bytes per name") from None

    def append(self, frame_index: int, timestamp_s: float, skeletons: Iterable[Skeleton3D],
               tracks: Iterable[tuple[int, str, np.ndarray]]) -> None:
        """Record one frame: its skeletons and its observed (track_id, state, joints) tracks."""
        self._skeletons.append(skeleton_line(frame_index, timestamp_s, skeletons))
        self._tracks.append({"frame": int(frame_index), "t": round(float(timestamp_s), 6),
                                 "tracks": [{"id": int(i), "state": st, "j": _round(j)} for i, st, j in tracks]})
        self.frames += 1
        self._first_ts = timestamp_s if self._first_ts is None else self._first_ts
        self._last_ts = timestamp_s

    @property
    def first_timestamp_s(self) -> float | None:
        """The time stored with the first frame (None before it)."""
        return self._first_ts

    def flush_if_due(self) -> None:
        """Push what is buffered to the OS if it has waited `flush_interval_s` (call it while idle)."""
        self._skeletons.flush_if_due()
        self._tracks.flush_if_due()

    def close(self, dropped_frames: int = 0) -> Manifest:
        """Flush and fsync both files and write the final manifest. Safe to call twice."""
        self._skeletons.close()
        self._tracks.close()
        duration = 0.0 if self._first_ts is None else float(self._last_ts - self._first_ts)  # type: ignore[operator]
        self.manifest = replace(self.manifest, ended_utc=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                                frames=self.frames, duration_s=duration, dropped_frames=dropped_frames)
        write_manifest(self.folder, self.manifest)
        return self.manifest


def load_skeleton_cache(folder: Path, report: RepairReport | None = None,
                        offset_s: float = 0.0) -> dict[int, list[Skeleton3D]]:
    """The session's skeletons by frame index; empty when it has no cache yet. Skipped lines go to `report`.
    `offset_s` is added to every time (a camera of a multi-camera session, put on the session's shared clock)."""
    return {line.frame: [skeleton_from_record(item, line.frame, line.t + offset_s) for item in line.s]
            for line in _cache_lines(folder, report)}


def cache_timestamps(folder: Path, offset_s: float = 0.0) -> list[tuple[int, float]]:
    """(frame index, timestamp s + `offset_s`) of every cached frame in recorded order: what a skeleton-only
    replay plays."""
    return [(line.frame, line.t + offset_s) for line in _cache_lines(folder, None)]


def _cache_lines(folder: Path, report: RepairReport | None) -> list[SkeletonLine]:
    path = Path(folder) / SKELETONS
    return read_lines(path, SkeletonLine, report) if path.is_file() else []


def load_tracks(folder: Path, report: RepairReport | None = None) -> list[TrackRecord]:
    """Every stored (frame, track) record in file order; skipped lines (torn, out of order) go to `report`."""
    path = Path(folder) / TRACKS
    if not path.is_file():
        return []
    return [TrackRecord(line.frame, line.t, item.id, item.state, np.asarray(nan_joints(item.j), dtype=np.float32))
            for line in read_lines(path, TrackLine, report) for item in line.tracks]


class CacheBuilder:
    """Builds the skeleton cache a session lacks while a replay runs pose on it, without touching the session.

    The lines go to a hidden temporary file beside the session's files; `commit()` (after a replay that reached
    the end) fsyncs it and links it in as `skeletons.jsonl` only if no cache appeared meanwhile; `discard()`
    removes it. So the session's own files are never written, and the cache is there whole or not at all.
    A pipeline recorder (record / flush_if_due / close), owned by the tracking worker until closed.
    """

    def __init__(self, folder: Path, flush_interval_s: float = 0.5) -> None:
        self.path = Path(folder) / SKELETONS
        self.tmp = private_temp_path(self.path)
        self._lines = JsonLinesWriter(self.tmp, flush_interval_s)
        self.frames = 0

    def record(self, bundle: Any, skeletons: list[Skeleton3D], tracks: list[tuple[int, str, np.ndarray]]) -> None:
        self._lines.append(skeleton_line(bundle.index, bundle.timestamp_s, skeletons))
        self.frames += 1

    def flush_if_due(self) -> None:
        self._lines.flush_if_due()

    def close(self, dropped_frames: int = 0) -> None:
        self._lines.close()

    def commit(self) -> bool:
        """Put the finished cache in place; False (and a warning) when a cache exists or the folder refuses it."""
        self.close()
        try:
            commit_temp(self.tmp, self.path)
        except FileExistsError:
            logger.warning("%s exists now; the cache built by this replay was not kept (the session is unchanged)",
                           self.path)
            return False
        except OSError as exc:
            logger.warning("could not save the skeleton cache %s (%s); the next replay runs pose again",
                           self.path, exc.strerror)
            return False
        logger.info("saved the skeleton cache %s (%d frames); later replays skip pose", self.path, self.frames)
        return True

    def discard(self) -> None:
        self.close()
        self.tmp.unlink(missing_ok=True)


def recording_path(folder: Path) -> Path | None:
    """The session's raw recording, or None when it has none (a video or skeleton-file source)."""
    path = Path(folder) / RECORDING
    return path if path.is_file() else None


class SessionRecorder:
    """Records what the pipeline processes into a session folder: the raw frames (a RealSense .db3, when the
    source has color and depth) and the skeletons and tracks (JSON lines). Owned by the tracking worker.

    Frames are keyed the way a replay of the session will number them: by position in the .db3 (the RealSense
    playback counts frames from the start of the file, and times from its first frame) when there is one, else
    by the source's own frame index and time (a video replays with its own numbering).
    """

    def __init__(self, writer: SessionWriter, raw: Any | None, *, keep_color: bool = True) -> None:
        self.writer, self.raw, self.keep_color = writer, raw, keep_color
        self._t0: float | None = None
        self._black: np.ndarray | None = None

    @classmethod
    def create(cls, folder: Path, source: Source, spec: str | None = None, *, record_raw: bool = True,
               flush_interval_s: float = 0.5, keep_color: bool = True) -> "SessionRecorder":
        """Start a session in `folder` for frames of `source`, opened from `spec` (kept in the manifest, so a
        session without a raw recording, e.g. of a video, can replay its images from the original file).

        `keep_color` False is the skeleton-only privacy mode: the recording keeps depth, skeletons and tracks,
        and its colour frames are black (the stream stays, so every RealSense player still opens the file).

        Raises:
            SessionError: the folder already holds a session, or cannot be written.
            SourceError: the .db3 cannot be created.
        """
        folder = Path(folder)
        if is_session(folder):
            raise SessionError(f"{folder} already holds a recorded session; choose a new --out folder "
                               "(sessions are never overwritten)")
        if folder.exists() and not folder.is_dir():
            raise SessionError(f"{folder} is a file, not a folder; name a new folder for the session with --out")
        raw = None
        fps = float(source.fps or 30.0)
        if record_raw and source.has_depth and source.intrinsics is not None:
            from capture.sources.realsense import RealSenseRecorder  # pyrealsense2 only when recording raw

            SessionWriter.make_folder(folder)
            raw = RealSenseRecorder(folder / RECORDING, source.intrinsics, fps, device_name=f"skelwatch: {source.name}")
        manifest = replace(new_manifest(source=spec or source.name, device=_device_of(source), fps=fps,
                                        intrinsics=source.intrinsics, has_recording=raw is not None),
                           color_recorded=keep_color)
        return cls(SessionWriter(folder, manifest, flush_interval_s), raw, keep_color=keep_color)

    @property
    def folder(self) -> Path:
        return self.writer.folder

    def record(self, bundle: Any, skeletons: list[Skeleton3D], tracks: list[tuple[int, str, np.ndarray]]) -> None:
        """Append one processed frame: its raw images (if recorded), skeletons and observed tracks."""
        if self.raw is not None:
            index = self.raw.frames_written
            if self._t0 is None:
                self._t0 = bundle.timestamp_s
            if not self.keep_color and bundle.color is not None:
                if self._black is None or self._black.shape != bundle.color.shape:
                    self._black = np.zeros_like(bundle.color)
                bundle = replace(bundle, color=self._black)
            self.raw.write(bundle)
            timestamp = bundle.timestamp_s - self._t0
        else:
            index, timestamp = bundle.index, bundle.timestamp_s
        self.writer.append(index, timestamp, skeletons, tracks)

    def flush_if_due(self) -> None:
        self.writer.flush_if_due()

    def close(self, dropped_frames: int = 0) -> Manifest:
        """Finish the .db3 and the JSON lines; returns the final manifest. Safe to call twice."""
        if self.raw is not None:
            self.raw.close()
        return self.writer.close(dropped_frames)


def _device_of(source: Any) -> str:
    """A short description of the capturing device for the manifest."""
    kind = type(source).__name__
    return f"{kind}: {source.name}"
