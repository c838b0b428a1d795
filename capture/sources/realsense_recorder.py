"""The RealSense recorder: FrameBundles into a real `.db3` recording through the SDK (`rs.recorder`).

A `rs.software_device` with two software sensors stands in for a camera, so what is written is exactly what
the SDK writes for a live device, and the SDK (or the RealSense Viewer) plays it back. This is how the synthetic
scene becomes a real recording. Measured on pyrealsense2 2.59.1: the recorder writes only names ending in
`.db3` (one SQLite file, PNG-compressed frames, lossless).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyrealsense2 as rs

from capture.frames import FrameBundle, Intrinsics, depth_to_units
from capture.sources import SourceError
from capture.sources.recording_meta import sidecar_path, write_sidecar


class RealSenseRecorder:
    """Write `FrameBundle`s into a real RealSense `.db3` recording, through a software device and `rs.recorder`.

    Two software sensors (Depth: Z16 with `depth_scale_m` metres per unit; Color: BGR8) with the bundle's
    intrinsics and identity extrinsics between them. The SDK recorder only writes `.db3` names. On `close()`
    a sidecar `<name>.db3.json` keeps what the images cannot: frame count, duration and any ground truth.
    """

    def __init__(self, path: str | Path, intrinsics: Intrinsics, fps: float, *, depth_scale_m: float = 0.001,
                 device_name: str = "skelwatch software camera", serial: str = "0") -> None:
        """Raises SourceError for a name not ending in .db3 or a folder that cannot be written."""
        self._path = Path(path)
        if self._path.suffix.lower() != ".db3":
            raise SourceError(f"{self._path}: the RealSense recorder writes .db3 files only; name it *.db3")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.unlink(missing_ok=True)
        self._intr, self._fps, self._scale = intrinsics, float(fps), float(depth_scale_m)
        self._device = rs.software_device()
        self._device.register_info(rs.camera_info.name, device_name)
        self._device.register_info(rs.camera_info.serial_number, serial)
        depth_sensor, color_sensor = self._device.add_sensor("Depth"), self._device.add_sensor("Color")
        depth_sensor.add_read_only_option(rs.option.depth_units, self._scale)
        self._depth = self._add_stream(depth_sensor, rs.stream.depth, rs.format.z16, 2, uid=0)
        self._color = self._add_stream(color_sensor, rs.stream.color, rs.format.bgr8, 3, uid=1)
        identity = rs.extrinsics()
        identity.rotation, identity.translation = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], [0.0, 0.0, 0.0]
        self._depth[1].register_extrinsics_to(self._color[1], identity)
        try:
            self._recorder = rs.recorder(str(self._path), self._device)
        except RuntimeError as exc:
            raise SourceError(f"{self._path}: cannot record here ({exc}); pick a writable folder") from None
        self._queues = []
        for sensor, profile in (self._depth, self._color):
            sensor.open(profile)
            self._queues.append(rs.frame_queue(4))
            sensor.start(self._queues[-1])
        self._truth: list[tuple] = []
        self._last_t_s = 0.0
        self._closed = False

    def _add_stream(self, sensor: rs.software_sensor, stream: rs.stream, fmt: rs.format, bpp: int,
                    uid: int) -> tuple[rs.software_sensor, rs.video_stream_profile]:
        intr = rs.intrinsics()
        intr.width, intr.height, intr.ppx, intr.ppy = self._intr.width, self._intr.height, self._intr.cx, self._intr.cy
        intr.fx, intr.fy, intr.model, intr.coeffs = self._intr.fx, self._intr.fy, rs.distortion.none, [0.0] * 5
        spec = rs.video_stream()
        spec.type, spec.index, spec.uid, spec.fmt, spec.bpp = stream, 0, uid, fmt, bpp
        spec.width, spec.height, spec.fps, spec.intrinsics = intr.width, intr.height, int(round(self._fps)), intr
        return sensor, sensor.add_video_stream(spec).as_video_stream_profile()

    def _submit(self, which: int, pixels: np.ndarray, bpp: int, number: int, t_s: float) -> None:
        sensor, profile = (self._depth, self._color)[which]
        frame = rs.software_video_frame()
        frame.pixels, frame.bpp, frame.stride = pixels, bpp, pixels.shape[1] * bpp
        frame.timestamp, frame.domain, frame.frame_number = t_s * 1000.0, rs.timestamp_domain.hardware_clock, number
        frame.profile = profile
        if which == 0:
            frame.depth_units = self._scale
        sensor.on_video_frame(frame)
        self._queues[which].wait_for_frame(5000)  # the recorder has written it once the queue has it

    def write(self, bundle: FrameBundle) -> None:
        """Record one bundle (needs color (H, W, 3) uint8 BGR and depth_m (H, W) metres at the intrinsics' size).

        Raises:
            SourceError: a missing image, a size that differs from the recorder's intrinsics, or a closed recorder.
        """
        size = (self._intr.height, self._intr.width)
        if self._closed:
            raise SourceError(f"{self._path}: the recorder is closed; open a new RealSenseRecorder")
        if bundle.color is None or bundle.depth_m is None or bundle.color.shape != (*size, 3) \
                or bundle.depth_m.shape != size:
            raise SourceError(f"{self._path}: frame {bundle.index} needs color {size[1]}x{size[0]}x3 and depth "
                              f"{size[1]}x{size[0]} to be recorded; got color "
                              f"{None if bundle.color is None else bundle.color.shape} and depth "
                              f"{None if bundle.depth_m is None else bundle.depth_m.shape}")
        depth_units = depth_to_units(bundle.depth_m, self._scale)
        number = len(self._truth)
        self._submit(0, depth_units, 2, number, bundle.timestamp_s)
        self._submit(1, np.ascontiguousarray(bundle.color, dtype=np.uint8), 3, number, bundle.timestamp_s)
        self._truth.append(tuple(bundle.truth))
        self._last_t_s = bundle.timestamp_s

    @property
    def frames_written(self) -> int:
        return len(self._truth)

    def close(self) -> None:
        """Finish the .db3 (the recorder flushes when released) and write the sidecar."""
        if self._closed:
            return
        self._closed = True
        for sensor, _ in (self._depth, self._color):
            sensor.stop()
            sensor.close()
        self._recorder = self._queues = None
        self._device = None
        duration = self._last_t_s + 1.0 / self._fps if self._truth else 0.0
        write_sidecar(sidecar_path(self._path), self._fps, duration, self._truth)

    def __enter__(self) -> "RealSenseRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
