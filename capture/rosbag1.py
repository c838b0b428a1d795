"""Write FrameBundles as a RealSense ROS 1 `.bag` (the file layout librealsense's own recorder wrote before 2.58).

The SDK from 2.58 on records only ROS 2 `.db3`, but still plays `.bag`, and most existing RealSense recordings
are `.bag`; this writer exists so that path is tested on a real file. A generic ROS 1 bag (for example
`rosbags-convert` of a .db3) is rejected by the SDK: it wants RealSense's layout (file format version 3,
librealsense doc "ros_file_format"): static messages at bag time 1 ns (ROS TIME_MIN)

    /file_version                                   std_msgs/UInt32 (3)
    /device_0/info                                  diagnostic_msgs/KeyValue (Name, Serial Number, ...)
    /device_0/sensor_{0,1}/info                     KeyValue Name = "Stereo Module" / "RGB Camera"
    /device_0/sensor_0/option/Depth_Units/value     std_msgs/Float32 (+ .../description, std_msgs/String)
    /device_0/sensor_S/<Stream>_0/info              realsense_msgs/StreamInfo (fps, encoding, is_recommended)
    /device_0/sensor_S/<Stream>_0/info/camera_info  sensor_msgs/CameraInfo (K holds fx, cx, fy, cy)
    /device_0/sensor_S/<Stream>_0/tf/0              geometry_msgs/Transform (extrinsics to reference 0)

and per frame, at bag time = the frame's media time (so the SDK's seek and duration follow media time)

    /device_0/sensor_S/<Stream>_0/image/data        sensor_msgs/Image (header.seq = frame number,
                                                    header.stamp = frame timestamp)
    /device_0/sensor_S/<Stream>_0/image/metadata    KeyValue timestamp_domain

Messages are ROS 1 (Noetic) definitions, whose MD5 sums the SDK checks; chunks are uncompressed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from capture.frames import Intrinsics
from capture.sources import SourceError
from capture.sources.recording_writer import RecordingWriter

FILE_VERSION = 3
_STREAM_INFO_MSG = "uint32 fps\nstring encoding\nbool is_recommended\n"  # realsense_msgs/StreamInfo
_DEPTH = "/device_0/sensor_0/Depth_0"
_COLOR = "/device_0/sensor_1/Color_0"
# ROS 1 times start at TIME_MIN = 1 ns (the SDK's rosbag drops index entries at 0): the static info sits there,
# and the SDK starts streaming at TIME_MIN + 1 ns, where the first frame goes.
_STATIC_NS = 1
_FIRST_FRAME_NS = 2


class RealSenseBagWriter(RecordingWriter):
    """Record FrameBundles (color BGR8 + depth Z16) into a RealSense-layout ROS 1 `.bag`, plus the sidecar."""

    def __init__(self, path: str | Path, intrinsics: Intrinsics, fps: float, *, depth_scale_m: float = 0.001,
                 device_name: str = "skelwatch software camera", serial: str = "0") -> None:
        """Raises SourceError for a name not ending in .bag or a folder that cannot be written."""
        super().__init__(path, ".bag", intrinsics, fps, depth_scale_m)
        self._types = get_typestore(Stores.ROS1_NOETIC)
        self._types.register(get_types_from_msg(_STREAM_INFO_MSG, "realsense_msgs/msg/StreamInfo"))
        self._m = self._types.types
        self._writer = Writer(self._path)
        try:
            self._writer.open()
        except OSError as exc:
            raise SourceError(f"{self._path}: cannot write here ({exc}); pick a writable folder") from None
        self._connections: dict[str, object] = {}
        self._write_static(device_name, serial)

    def _put(self, topic: str, msgtype: str, message: object, time_ns: int) -> None:
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self._types)
        self._writer.write(self._connections[topic], time_ns, self._types.serialize_ros1(message, msgtype))

    def _key_values(self, topic: str, pairs: dict[str, str], time_ns: int = _STATIC_NS) -> None:
        for key, value in pairs.items():
            self._put(topic, "diagnostic_msgs/msg/KeyValue", self._m["diagnostic_msgs/msg/KeyValue"](key, value),
                      time_ns)

    def _header(self, seq: int, t_s: float) -> object:
        sec = int(np.floor(t_s))
        stamp = self._m["builtin_interfaces/msg/Time"](sec, int(round((t_s - sec) * 1e9)))
        return self._m["std_msgs/msg/Header"](seq, stamp, "0")

    def _write_static(self, device_name: str, serial: str) -> None:
        m = self._m
        self._put("/file_version", "std_msgs/msg/UInt32", m["std_msgs/msg/UInt32"](FILE_VERSION), _STATIC_NS)
        self._key_values("/device_0/info", {"Name": device_name, "Serial Number": serial})
        self._key_values("/device_0/sensor_0/info", {"Name": "Stereo Module"})
        self._key_values("/device_0/sensor_1/info", {"Name": "RGB Camera"})
        self._put("/device_0/sensor_0/option/Depth_Units/value", "std_msgs/msg/Float32",
                  m["std_msgs/msg/Float32"](self._scale), _STATIC_NS)
        self._put("/device_0/sensor_0/option/Depth_Units/description", "std_msgs/msg/String",
                  m["std_msgs/msg/String"]("Number of meters represented by a single depth unit"), _STATIC_NS)
        i = self._intr
        k = np.array([i.fx, 0.0, i.cx, 0.0, i.fy, i.cy, 0.0, 0.0, 1.0])
        p = np.array([i.fx, 0.0, i.cx, 0.0, 0.0, i.fy, i.cy, 0.0, 0.0, 0.0, 1.0, 0.0])
        for prefix, encoding in ((_DEPTH, "mono16"), (_COLOR, "bgr8")):
            self._put(f"{prefix}/info", "realsense_msgs/msg/StreamInfo",
                      m["realsense_msgs/msg/StreamInfo"](int(round(self._fps)), encoding, True), _STATIC_NS)
            info = m["sensor_msgs/msg/CameraInfo"](
                self._header(0, 0.0), i.height, i.width, "None", np.zeros(5), k, np.eye(3).ravel(), p, 0, 0,
                m["sensor_msgs/msg/RegionOfInterest"](0, 0, 0, 0, False))
            self._put(f"{prefix}/info/camera_info", "sensor_msgs/msg/CameraInfo", info, _STATIC_NS)
            transform = m["geometry_msgs/msg/Transform"](m["geometry_msgs/msg/Vector3"](0.0, 0.0, 0.0),
                                                         m["geometry_msgs/msg/Quaternion"](0.0, 0.0, 0.0, 1.0))
            self._put(f"{prefix}/tf/0", "geometry_msgs/msg/Transform", transform, _STATIC_NS)

    def _image(self, prefix: str, pixels: np.ndarray, encoding: str, seq: int, t_s: float) -> None:
        time_ns = _FIRST_FRAME_NS + int(round(t_s * 1e9))
        message = self._m["sensor_msgs/msg/Image"](
            self._header(seq, t_s), pixels.shape[0], pixels.shape[1], encoding, 0,
            pixels.shape[1] * pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1),
            np.ascontiguousarray(pixels).view(np.uint8).ravel())
        self._put(f"{prefix}/image/data", "sensor_msgs/msg/Image", message, time_ns)
        self._key_values(f"{prefix}/image/metadata", {"timestamp_domain": "Hardware Clock"}, time_ns)

    def _write_pair(self, depth_units: np.ndarray, color: np.ndarray, number: int, t_s: float) -> None:
        self._image(_DEPTH, depth_units.astype("<u2"), "mono16", number, t_s)
        self._image(_COLOR, color, "bgr8", number, t_s)

    def _finish(self) -> None:
        """The bag's index and chunk info are written on close."""
        self._writer.close()
