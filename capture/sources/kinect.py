"""Optional Kinect-class backends, imported only when asked for; none is in requirements.txt.

    kinect:azure[:PATH.mkv]   Azure Kinect / Orbbec Femto (K4A wrapper) through `pyk4a`, live or a recorded .mkv
    kinect:openni[:PATH.oni]  Kinect v1 / Asus Xtion through OpenNI2 (`openni` package), live or an .oni file
    kinect:freenect[:N]       Kinect v1 through libfreenect's Python bindings (`freenect`)

A missing package raises a SourceError that says exactly what to install. These backends follow each
library's documented API; they are not exercised here without the hardware (only the missing-package path is
tested). Depth is registered to color by each SDK (K4A transformation, OpenNI image registration, freenect's
DEPTH_REGISTERED), and all three report millimetres.
"""
from __future__ import annotations

import importlib
import logging
import math
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from capture.frames import FrameBundle, Intrinsics
from capture.sources import Source, SourceError

logger = logging.getLogger(__name__)

INSTALL_HINTS = {
    "pyk4a": "pip install pyk4a==1.5.0, after installing the Azure Kinect Sensor SDK (libk4a 1.4, from Microsoft) "
             "or, for an Orbbec Femto, Orbbec's K4A wrapper (libk4a from OrbbecSDK-K4A-Wrapper)",
    "openni": "pip install openni==2.3.0 and the OpenNI2 runtime (Debian/Ubuntu: apt-get install libopenni2-0; "
              "for a Kinect v1 also libfreenect-dev's OpenNI2 driver), and set OPENNI2_REDIST if it is elsewhere",
    "freenect": "pip install freenect==0.1.0 (the libfreenect Python bindings), after installing libfreenect "
                "(Debian/Ubuntu: apt-get install libfreenect-dev)",
}
_KINECT_V1_FOCAL_PX = 525.0  # nominal Kinect v1 RGB focal length at 640x480 (freenect gives no calibration)


def require(module: str) -> ModuleType:
    """Import an optional SDK module or raise a SourceError naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SourceError(f"the '{module}' package is not installed ({exc}); to use this camera: "
                          f"{INSTALL_HINTS[module]}") from None


def open_kinect(argument: str = "", **options: Any) -> Source:
    """`kinect:azure[:PATH]`, `kinect:openni[:PATH]`, `kinect:freenect[:N]`."""
    backend, _, target = argument.partition(":")
    openers: dict[str, Callable[..., Source]] = {"azure": AzureKinectSource, "openni": OpenNISource,
                                                 "freenect": FreenectSource}
    if backend not in openers:
        raise SourceError(f"kinect:{argument}: unknown Kinect backend {backend!r}; valid: "
                          f"{', '.join('kinect:' + b for b in openers)}")
    return openers[backend](target or None, **options)


class _SdkSource(Source):
    """Shared bookkeeping: name, intrinsics, frame counter; subclasses give `_read()` -> (bgr, depth_mm, t_s)."""

    def __init__(self, name: str, live: bool, fps: float | None) -> None:
        self._name, self._live, self._fps = name, live, fps
        self._intrinsics: Intrinsics | None = None
        self._index, self._closed = 0, False

    name = property(lambda self: self._name)
    is_live = property(lambda self: self._live)
    has_depth = property(lambda self: True)
    intrinsics = property(lambda self: self._intrinsics)
    fps = property(lambda self: self._fps)

    def _read(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[FrameBundle]:
        while not self._closed:
            got = self._read()
            if got is None:
                return
            bgr, depth_mm, t_s = got
            yield FrameBundle(self._index, t_s, bgr, depth_mm.astype(np.float32) / 1000.0, self._intrinsics, ())
            self._index += 1


class AzureKinectSource(_SdkSource):
    """Azure Kinect / Orbbec Femto through pyk4a: a device (index 0) or a recorded .mkv (seekable)."""

    def __init__(self, path: str | None = None, *, device_id: int = 0) -> None:
        self._k4a = require("pyk4a")
        super().__init__(Path(path).name if path else f"Azure Kinect {device_id}", path is None, 30.0)
        if path is not None:
            if not Path(path).is_file():
                raise SourceError(f"Azure Kinect recording {path} does not exist; check the path")
            self._handle = self._k4a.PyK4APlayback(path)
            self._handle.open()
        else:
            self._handle = self._k4a.PyK4A(self._k4a.Config(
                color_resolution=self._k4a.ColorResolution.RES_720P, depth_mode=self._k4a.DepthMode.NFOV_UNBINNED,
                color_format=self._k4a.ImageFormat.COLOR_BGRA32, synchronized_images_only=True),
                device_id=device_id)
            self._handle.start()
        self._k = self._handle.calibration.get_camera_matrix(self._k4a.CalibrationType.COLOR)  # (3, 3) pixels

    def _read(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        try:
            capture = self._handle.get_next_capture() if not self._live else self._handle.get_capture()
        except EOFError:
            return None
        color = capture.color
        if color is None or capture.transformed_depth is None:
            return self._read()
        bgr = cv2.imdecode(color, cv2.IMREAD_COLOR) if color.ndim == 1 else np.ascontiguousarray(color[..., :3])
        if self._intrinsics is None:
            self._intrinsics = Intrinsics(bgr.shape[1], bgr.shape[0], float(self._k[0, 0]), float(self._k[1, 1]),
                                          float(self._k[0, 2]), float(self._k[1, 2]))
        return bgr, capture.transformed_depth, capture.color_timestamp_usec / 1e6

    def seek(self, t_s: float) -> None:
        if self._live:
            super().seek(t_s)
        self._handle.seek(int(t_s * 1e6))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._handle.close() if not self._live else self._handle.stop()


class OpenNISource(_SdkSource):
    """Kinect v1 / Xtion through OpenNI2: the first device, or an .oni recording; depth registered to color."""

    def __init__(self, path: str | None = None) -> None:
        require("openni")
        openni2 = importlib.import_module("openni.openni2")
        openni2.initialize()
        self._openni2 = openni2
        super().__init__(Path(path).name if path else "OpenNI2 device", path is None, 30.0)
        try:
            self._device = openni2.Device.open_file(path.encode()) if path else openni2.Device.open_any()
        except Exception as exc:  # the binding raises its own OpenNIError type
            raise SourceError(f"{self._name}: cannot open ({exc}); check the USB cable and the OpenNI2 driver") \
                from None
        self._device.set_image_registration_mode(openni2.IMAGE_REGISTRATION_DEPTH_TO_COLOR)
        self._depth, self._color = self._device.create_depth_stream(), self._device.create_color_stream()
        self._depth.start()
        self._color.start()

    def _read(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        depth_frame, color_frame = self._depth.read_frame(), self._color.read_frame()
        h, w = color_frame.height, color_frame.width
        rgb = np.frombuffer(color_frame.get_buffer_as_uint8(), dtype=np.uint8).reshape(h, w, 3)
        depth = np.frombuffer(depth_frame.get_buffer_as_uint16(), dtype=np.uint16)
        depth = depth.reshape(depth_frame.height, depth_frame.width)
        if depth.shape != (h, w):
            depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
        if self._intrinsics is None:
            f = (w / 2.0) / math.tan(self._color.get_horizontal_fov() / 2.0)
            self._intrinsics = Intrinsics(w, h, f, f, (w - 1) / 2.0, (h - 1) / 2.0)
        return np.ascontiguousarray(rgb[..., ::-1]), depth, color_frame.timestamp / 1e6

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._depth.stop()
            self._color.stop()
            self._openni2.unload()


class FreenectSource(_SdkSource):
    """Kinect v1 through libfreenect's synchronous API: RGB 640x480 with depth registered to it (mm)."""

    def __init__(self, index: str | None = None) -> None:
        self._freenect = require("freenect")
        super().__init__(f"Kinect v1 (freenect {index or 0})", True, 30.0)
        self._device_index = int(index or 0)
        self._t0 = time.monotonic()
        self._intrinsics = Intrinsics(640, 480, _KINECT_V1_FOCAL_PX, _KINECT_V1_FOCAL_PX, 319.5, 239.5)

    def _read(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        depth = self._freenect.sync_get_depth(self._device_index, self._freenect.DEPTH_REGISTERED)
        video = self._freenect.sync_get_video(self._device_index)
        if depth is None or video is None:
            raise SourceError(f"{self._name}: no Kinect found by libfreenect; check the USB cable and power supply")
        return np.ascontiguousarray(video[0][..., ::-1]), depth[0], time.monotonic() - self._t0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._freenect.sync_stop()
