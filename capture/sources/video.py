"""A video file or a webcam through OpenCV: color only, no depth.

Without a calibration the intrinsics are those of an ideal pinhole with square pixels, the principal point at
the image centre and an assumed horizontal field of view (`hfov_deg`, default 60 degrees, typical of webcams
and of the surveillance footage we test on); a 2D-only pipeline uses them only to draw and to guess scale.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from capture.frames import FrameBundle, Intrinsics
from capture.sources import Source, SourceError, check_seek_time

logger = logging.getLogger(__name__)

DEFAULT_HFOV_DEG = 60.0


def assumed_intrinsics(width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> Intrinsics:
    """Pinhole intrinsics for an uncalibrated camera: fx = fy = (W/2) / tan(hfov/2), centre at the middle."""
    if not 1.0 <= hfov_deg <= 179.0:
        raise SourceError(f"hfov_deg={hfov_deg}: the assumed horizontal field of view must be in [1, 179] degrees")
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return Intrinsics(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)


class VideoSource(Source):
    """Frames of a video file (every frame once, seekable) or a camera index (live) as BGR images."""

    def __init__(self, target: str | int | Path, *, hfov_deg: float = DEFAULT_HFOV_DEG) -> None:
        """Raises SourceError for a missing file, a file OpenCV cannot decode, or a camera that gives no image."""
        self._live = isinstance(target, int)
        self._label = f"webcam {target}" if self._live else Path(target).name
        if not self._live and not Path(target).is_file():
            raise SourceError(f"video file {target} does not exist; check the path")
        self._capture = cv2.VideoCapture(target if self._live else str(target))
        ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or first is None:
            self._capture.release()
            fix = ("check that it is connected and not used by another program" if self._live else
                   "it is not a video OpenCV can decode (corrupt, truncated, or an unsupported codec); convert it "
                   "with ffmpeg to H.264 .mp4 or MJPEG .avi")
            raise SourceError(f"{self._label}: cannot read a frame; {fix}")
        self._pending: np.ndarray | None = first
        self._intrinsics = assumed_intrinsics(first.shape[1], first.shape[0], hfov_deg)
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else None
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self._count = int(count) if not self._live and count and count > 0 else None
        self._index = 0
        self._t0 = time.monotonic()
        self._closed = False

    name = property(lambda self: self._label)
    is_live = property(lambda self: self._live)
    has_depth = property(lambda self: False)
    intrinsics = property(lambda self: self._intrinsics)
    fps = property(lambda self: self._fps)

    @property
    def duration_s(self) -> float | None:
        return self._count / self._fps if self._count is not None and self._fps else None

    def __iter__(self) -> Iterator[FrameBundle]:
        while not self._closed:
            frame, self._pending = self._pending, None
            if frame is None:
                ok, frame = self._capture.read()
                if not ok:
                    if self._live:
                        raise SourceError(f"{self._label}: the camera stopped giving images; check the cable")
                    if self._count is not None and self._index < self._count:
                        logger.warning("%s: decoding stopped at frame %d of %d (truncated or corrupt file)",
                                       self._label, self._index, self._count)
                    return
            if self._live or not self._fps:
                t_s = time.monotonic() - self._t0
            else:
                t_s = self._index / self._fps
            yield FrameBundle(self._index, t_s, frame, None, self._intrinsics, ())
            self._index += 1

    def seek(self, t_s: float) -> None:
        """Go to frame ceil(t_s * fps) of a file (OpenCV seeks by frame number)."""
        if self._live or not self._fps:
            super().seek(t_s)
        index = int(math.ceil(check_seek_time(self, t_s) * self._fps - 1e-9))
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._pending, self._index = None, index

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._capture.release()


def open_webcam(argument: str = "", **options: Any) -> VideoSource:
    """`webcam` opens camera 0, `webcam:N` camera N."""
    try:
        index = int(argument or 0)
    except ValueError:
        raise SourceError(f"webcam:{argument}: give a camera number, for example webcam:0") from None
    return VideoSource(index, **options)
