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

from capture.frames import Intrinsics
from capture.sources import SourceError
from capture.sources.recording_writer import RecordingWriter


class RealSenseRecorder(RecordingWriter):
    """Write `FrameBundle`s into a real RealSense `.db3` recording, through a software device and `rs.recorder`.

    Two software sensors (Depth: Z16 with `depth_scale_m` metres per unit; Color: BGR8) with the bundle's
    intrinsics and identity extrinsics between them. The SDK recorder only writes `.db3` names. On `close()`
    a sidecar `<name>.db3.json` keeps what the images cannot: frame count, duration and any ground truth.
    """

    def __init__(self, path: str | Path, intrinsics: Intrinsics, fps: float, *, depth_scale_m: float = 0.001,
                 device_name: str = "skelwatch software camera", serial: str = "0") -> None:
        """Raises SourceError for a name not ending in .db3 or a folder that cannot be written."""
        super().__init__(path, ".db3", intrinsics, fps, depth_scale_m)
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

    def _write_pair(self, depth_units: np.ndarray, color: np.ndarray, number: int, t_s: float) -> None:
        self._submit(0, depth_units, 2, number, t_s)
        self._submit(1, color, 3, number, t_s)

    def _finish(self) -> None:
        """The SDK recorder flushes the .db3 when the sensors stop and it is released."""
        for sensor, _ in (self._depth, self._color):
            sensor.stop()
            sensor.close()
        self._recorder = self._queues = None
        self._device = None
