"""What every recording writer of skelwatch shares: frame checks and numbering, the truth, the sidecar.

The SDK's `.db3` recorder and the ROS 1 `.bag` writer differ only in how one depth/color pair reaches the file
and how the file is finished; this base keeps the rest in one place.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from capture.frames import FrameBundle, Intrinsics, depth_to_units
from capture.sources import SourceError
from capture.sources.recording_meta import sidecar_path, write_sidecar


class RecordingWriter(ABC):
    """Writes FrameBundles (color BGR8 + depth Z16) to one file, then a sidecar `<name>.json` on close.

    Args:
        path: the file to write; an existing one is replaced.
        suffix: the one file ending this writer makes (".db3", ".bag").
        intrinsics: the size and camera model every recorded frame must have.
        fps: nominal frame rate; depth_scale_m: metres per Z16 depth unit.
    Raises:
        SourceError: a name with another ending.
    """

    def __init__(self, path: str | Path, suffix: str, intrinsics: Intrinsics, fps: float,
                 depth_scale_m: float) -> None:
        self._path = Path(path)
        if self._path.suffix.lower() != suffix:
            raise SourceError(f"{self._path}: {type(self).__name__} writes {suffix} files only; name it *{suffix}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.unlink(missing_ok=True)
        self._intr, self._fps, self._scale = intrinsics, float(fps), float(depth_scale_m)
        self._truth: list[tuple] = []
        self._last_t_s = 0.0
        self._closed = False

    @abstractmethod
    def _write_pair(self, depth_units: np.ndarray, color: np.ndarray, number: int, t_s: float) -> None:
        """Write frame `number`: depth (H, W) uint16 units and color (H, W, 3) uint8 BGR, at `t_s` seconds."""

    @abstractmethod
    def _finish(self) -> None:
        """Flush and release the file (called once, by close)."""

    def write(self, bundle: FrameBundle) -> None:
        """Record one bundle (color (H, W, 3) uint8 BGR and depth_m (H, W) metres at the intrinsics' size).

        Raises:
            SourceError: a missing image, a size that differs from the intrinsics, or a closed writer.
        """
        size = (self._intr.height, self._intr.width)
        if self._closed:
            raise SourceError(f"{self._path}: the writer is closed; open a new {type(self).__name__}")
        if bundle.color is None or bundle.depth_m is None or bundle.color.shape != (*size, 3) \
                or bundle.depth_m.shape != size:
            raise SourceError(f"{self._path}: frame {bundle.index} needs color {size[1]}x{size[0]}x3 and depth "
                              f"{size[1]}x{size[0]} to be recorded; got color "
                              f"{None if bundle.color is None else bundle.color.shape} and depth "
                              f"{None if bundle.depth_m is None else bundle.depth_m.shape}")
        self._write_pair(depth_to_units(bundle.depth_m, self._scale),
                         np.ascontiguousarray(bundle.color, dtype=np.uint8), len(self._truth), bundle.timestamp_s)
        self._truth.append(tuple(bundle.truth))
        self._last_t_s = bundle.timestamp_s

    @property
    def frames_written(self) -> int:
        return len(self._truth)

    def close(self) -> None:
        """Finish the file and write the sidecar (frame count, media duration, ground truth). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._finish()
        duration = self._last_t_s + 1.0 / self._fps if self._truth else 0.0
        write_sidecar(sidecar_path(self._path), self._fps, duration, self._truth)

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
