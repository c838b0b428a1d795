"""Capture sources: one class per input behind one small interface, and a lookup by name.

A source turns a device or a file into `FrameBundle`s. Iterating yields frames from the current position to the
end (a live source never ends by itself); `seek(t_s)` moves the position where the medium allows; `close()`
releases the device or file, and a source is a context manager. Backends are imported only when their source is
opened, so a missing optional SDK (Kinect) costs nothing until somebody asks for it.

Spec strings understood by `open_source`:

    realsense | realsense:SERIAL            a live Intel RealSense camera
    PATH.db3 | PATH.bag | realsense:PATH    a RealSense recording (SDK 2.58+ .db3, or the older ROS 1 .bag)
    kinect:azure[:PATH.mkv] | kinect:openni | kinect:freenect    optional Kinect-class backends
    webcam | webcam:N                       an OpenCV camera (RGB only)
    video:PATH | PATH.avi/.mp4/.mov/...     a video file through OpenCV (RGB only)
    skeleton:PATH                           a skeleton dataset replayed as a stream (no images)
    synthetic                               the synthetic scene, rendered on the fly
"""
from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Iterator

from core.errors import SkelwatchError

if TYPE_CHECKING:
    from capture.frames import FrameBundle, Intrinsics


class SourceError(SkelwatchError):
    """A device, recording or file cannot be opened or read; the message names it and the fix."""


class Source(ABC):
    """A stream of `FrameBundle`s from one device or file."""

    @property
    @abstractmethod
    def name(self) -> str:
        """A short human name: the device, or the file name."""

    @property
    @abstractmethod
    def is_live(self) -> bool:
        """True for a device (frames may be dropped under load), False for a file (every frame, once)."""

    @property
    @abstractmethod
    def has_depth(self) -> bool:
        """Whether frames carry `depth_m` aligned to color."""

    @property
    def metric_skeletons(self) -> bool:
        """Whether this source's skeletons are placed in 3D through depth (else by an assumed body height), so
        whether the tracker may trust their 3D positions; a replayed skeleton cache says what its session had."""
        return self.has_depth

    @property
    @abstractmethod
    def intrinsics(self) -> "Intrinsics | None":
        """The color camera's pinhole model, or None for a source without images."""

    @property
    @abstractmethod
    def fps(self) -> float | None:
        """Nominal frames per second, or None when unknown."""

    @property
    def duration_s(self) -> float | None:
        """Length of a recording in seconds; None for a live source or when unknown."""
        return None

    @abstractmethod
    def __iter__(self) -> Iterator["FrameBundle"]:
        """Yield frames from the current position to the end of the medium."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or file; closing twice is harmless."""

    def seek(self, t_s: float) -> None:
        """Move to the first frame at or after `t_s` seconds from the start.

        Raises:
            SourceError: the medium cannot seek (a live device, a webcam).
        """
        raise SourceError(f"{self.name}: this source cannot seek (it is live or the medium does not allow it)")

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class GeneratedSource(Source):
    """A source that can make any frame from its index (a generated scene, skeletons held in memory).

    Subclasses set `_fps` and `_frames` (the frame count) and implement `frame(index)`; iteration, seek and the
    media length follow from those.
    """

    _fps: float
    _frames: int
    _next: int = 0

    fps = property(lambda self: self._fps)
    duration_s = property(lambda self: self._frames / self._fps)
    is_live = property(lambda self: False)

    @property
    def num_frames(self) -> int:
        return self._frames

    @abstractmethod
    def frame(self, index: int) -> "FrameBundle":
        """The bundle of frame `index` (0 <= index < num_frames)."""

    def __iter__(self) -> Iterator["FrameBundle"]:
        while self._next < self._frames:
            self._next += 1
            yield self.frame(self._next - 1)

    def seek(self, t_s: float) -> None:
        self._next = math.ceil(check_seek_time(self, t_s) * self._fps - 1e-9)

    def close(self) -> None:
        self._next = self._frames


def check_seek_time(source: Source, t_s: float) -> float:
    """Validate a seek target: finite, >= 0 and, when the length is known, not past the end."""
    t = float(t_s)
    if not t >= 0.0 or t == float("inf"):
        raise SourceError(f"{source.name}: cannot seek to t_s={t_s!r}; give a time in seconds >= 0")
    duration = source.duration_s
    if duration is not None and t > duration:
        raise SourceError(f"{source.name}: cannot seek to {t:.3f} s, the recording lasts {duration:.3f} s")
    return t


# Scheme -> "module:callable(argument, **options)". Imported lazily (no work at import, optional SDKs).
_OPENERS: dict[str, str] = {
    "realsense": "capture.sources.realsense:open_realsense",
    "kinect": "capture.sources.kinect:open_kinect",
    "webcam": "capture.sources.video:open_webcam",
    "video": "capture.sources.video:VideoSource",
    "skeleton": "capture.sources.skeleton_file:SkeletonFileSource",
    "synthetic": "capture.sources.synthetic:open_synthetic",
}
_SUFFIX_SCHEMES: dict[str, str] = {
    ".db3": "realsense", ".bag": "realsense",
    ".avi": "video", ".mp4": "video", ".mov": "video", ".mkv": "video", ".webm": "video", ".m4v": "video",
}


def _split_spec(spec: str) -> tuple[str, str]:
    scheme, sep, argument = spec.partition(":")
    if sep and scheme.lower() in _OPENERS and len(scheme) > 1:  # "C:\..." is a Windows drive, not a scheme
        return scheme.lower(), argument
    if spec.lower() in _OPENERS:
        return spec.lower(), ""
    suffix = Path(spec).suffix.lower()
    if suffix in _SUFFIX_SCHEMES:
        return _SUFFIX_SCHEMES[suffix], spec
    if Path(spec).is_dir():
        return "skeleton", spec
    raise SourceError(
        f"unknown capture source {spec!r}; valid sources: {', '.join(_OPENERS)} (as NAME or NAME:ARGUMENT), "
        f"or a file ending in {', '.join(sorted(_SUFFIX_SCHEMES))}, or a skeleton dataset folder")


def open_source(spec: str, **options: Any) -> Source:
    """Open a source by spec string (see the module docstring); `options` go to its constructor.

    Raises:
        SourceError: unknown spec, missing device, file or SDK, or an unreadable file.
    """
    scheme, argument = _split_spec(spec.strip())
    module_name, attr = _OPENERS[scheme].split(":")
    opener = getattr(importlib.import_module(module_name), attr)
    return opener(argument, **options)
