"""Replaying a recorded session: the cheapest input that serves the request, and the skeleton-cache source.

A complete skeleton cache replays by itself (no decoding, no pose); images come from the raw recording (or the
original video) with the cache still replacing pose per frame; a recording that cannot be read (cut short by a
crash) falls back to the cache, so what was extracted is never lost to a damaged file.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from app.session import (RECORDING, SKELETONS, Manifest, SessionError, cache_timestamps, load_skeleton_cache,
                         read_manifest, recording_path)
from app.pipeline.multi import Camera
from app.session_cameras import read_cameras
from capture.frames import FrameBundle, Intrinsics, Skeleton3D
from capture.sources import Source, check_seek_time

logger = logging.getLogger(__name__)


class CachedSkeletonSource(Source):
    """Replays a session from its skeleton cache alone: frames without images, each carrying its index and time.

    Used when the raw recording is not needed (headless replay of a complete cache: no decoding at all) or cannot
    be read (a recording cut short by a crash), so that everything already extracted stays usable.
    """

    def __init__(self, folder: Path, manifest: Manifest, offset_s: float = 0.0) -> None:
        """`offset_s` is added to every frame's time (a camera of a multi-camera session: the shared clock)."""
        self._folder, self._manifest = Path(folder), manifest
        self._frames = cache_timestamps(folder, offset_s)
        if not self._frames:
            raise SessionError(f"{folder}: the session has no skeleton cache ({SKELETONS}) to replay")
        self._next = 0

    name = property(lambda self: f"{self._folder.name} (skeleton cache)")
    is_live = property(lambda self: False)
    has_depth = property(lambda self: False)
    # No images here, but the cached skeletons were placed through depth when the session's source had it (then
    # the session recorded it): the tracker must treat them as it did live.
    metric_skeletons = property(lambda self: self._manifest.has_recording)
    intrinsics = property(lambda self: _intrinsics_from(self._manifest.intrinsics))
    fps = property(lambda self: self._manifest.fps)
    duration_s = property(lambda self: self._frames[-1][1] - self._frames[0][1] + 1.0 / max(self._manifest.fps, 1e-6))

    def __iter__(self) -> Iterator[FrameBundle]:
        intrinsics = self.intrinsics
        while self._next < len(self._frames):
            index, t = self._frames[self._next]
            self._next += 1
            yield FrameBundle(index, t, None, None, intrinsics, ())

    def seek(self, t_s: float) -> None:
        target = check_seek_time(self, t_s) + self._frames[0][1]
        self._next = next((k for k, (_, t) in enumerate(self._frames) if t >= target - 1e-9), len(self._frames))

    def close(self) -> None:
        self._next = len(self._frames)


def _intrinsics_from(data: dict[str, Any] | None) -> Intrinsics | None:
    return None if data is None else Intrinsics(**data)


@dataclass
class SessionInput:
    """What a replay of a session runs on: a source, the skeleton cache, and whether to write the cache."""

    folder: Path
    manifest: Manifest
    source: Source
    cache: dict[int, list[Skeleton3D]]
    fill_cache: bool  # no cache yet: a replay may build one beside the session (app.session.CacheBuilder)


def open_session(folder: Path, *, images: bool = False) -> SessionInput:
    """Open a recorded session for replay, choosing the cheapest input that serves the request.

    A complete skeleton cache is replayed by itself unless `images` are wanted (the GUI); otherwise the raw
    recording (or the original video) is opened and the cache, where present, still replaces pose per frame.
    A raw recording that cannot be read (cut short by a crash) falls back to the cache, with a warning.

    Raises:
        SessionError: not a session, or a session with neither a readable recording nor a cache.
    """
    from capture.sources import SourceError, open_source

    folder = Path(folder)
    manifest = read_manifest(folder)
    cache = load_skeleton_cache(folder)
    complete = bool(cache) and manifest.complete and len(cache) >= (manifest.frames or 0)
    if complete and not images:
        return SessionInput(folder, manifest, CachedSkeletonSource(folder, manifest), cache, False)
    raw = recording_path(folder)
    original = Path(manifest.source)
    try:
        if raw is not None:
            source = open_source(str(raw))
        elif original.is_file():
            source = open_source(str(original))
        elif cache:
            source = CachedSkeletonSource(folder, manifest)
        else:
            raise SessionError(f"{folder}: nothing to replay: no {RECORDING}, the original source "
                               f"{manifest.source!r} is not a file here, and there is no {SKELETONS}")
    except SourceError as exc:
        if not cache:
            raise SessionError(f"{folder}: the recording cannot be read ({exc}) and the session has no skeleton "
                               "cache; nothing was extracted from it to replay") from None
        logger.warning("%s: the recording cannot be read (%s); replaying the %d cached frames without images",
                       folder, exc, len(cache))
        source = CachedSkeletonSource(folder, manifest)
    return SessionInput(folder, manifest, source, cache, fill_cache=not cache)


def open_camera_sessions(folder: Path, err: IO[str] | None = None) -> tuple[list[Camera], list[str]]:
    """The cameras of a multi-camera session (app.session_cameras), each replayed from its skeleton cache alone
    (pose never runs) with its times on the session's shared clock, so `MediaClock` keeps them in step.

    A camera whose folder is missing or unreadable is named on `err` (the terminal; None: only returned, for the
    window) and left out; one cut short (a killed recording, a truncated cache) plays what it holds, with a
    warning.
    Returns:
        The cameras, and a message per camera left out.
    Raises:
        SessionError: `cameras.json` is missing or corrupt (naming the fix), or no camera can be replayed.
    """
    folder = Path(folder)
    cameras, failures = [], []
    for entry in read_cameras(folder).cameras:
        sub = folder / entry.name
        try:
            manifest = read_manifest(sub)
            cache = load_skeleton_cache(sub, offset_s=entry.offset_s or 0.0)
            source = CachedSkeletonSource(sub, manifest, entry.offset_s or 0.0)
        except SessionError as exc:
            failures.append(f"camera {entry.name} ({sub}) cannot be replayed: {exc}")
            if err is not None:
                err.write(f"error: {failures[-1]}; the other cameras play without it\n")
            continue
        if not manifest.complete or len(cache) < (manifest.frames or 0):
            logger.warning("camera %s (%s) was cut short: %d of %s frames in its skeleton cache; playing those "
                           "(`session repair %s` finalises it)", entry.name, sub, len(cache),
                           manifest.frames if manifest.complete else "?", folder)
        cameras.append(Camera(entry.name, source, False, cache))
    if not cameras:
        raise SessionError(f"{folder}: no camera can be replayed: " + "; ".join(failures))
    return cameras, failures
