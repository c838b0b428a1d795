"""Intel RealSense: a live camera and recorded playback (.db3 and ROS 1 .bag), through pyrealsense2.

`RealSenseRecorder` (writing .db3) lives in `realsense_recorder` and is re-exported here.

Playback does not use `rs.pipeline`: its syncer repeats frames and only a `wait_for_frames` timeout tells the
end. Instead the playback device's sensors are started with a callback (`set_real_time(False)`), which gives
every recorded frame exactly once; the callback blocks on a small bounded queue, so a slow consumer slows the
reader instead of losing frames. Color and depth are paired here by timestamp, and depth is mapped onto the
color image in numpy (`align_depth_to_color`), since `rs.align` needs a frameset that only a syncer makes.

A recording made by `RealSenseRecorder` has a JSON sidecar `<name>.db3.json` (frame count, duration, and the
ground-truth skeletons when the frames carried any); playback attaches that truth to its frames by index.
"""
from __future__ import annotations

import datetime
import logging
import queue
import threading
import time
import weakref
from bisect import bisect_right
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyrealsense2 as rs

from capture.frames import FrameBundle, Intrinsics
from capture.sources import Source, SourceError, check_seek_time
from capture.sources.realsense_recorder import RealSenseRecorder
from capture.sources.recording_meta import read_sidecar, sidecar_path

logger = logging.getLogger(__name__)

__all__ = ["RealSenseLive", "RealSensePlayback", "RealSenseRecorder", "align_depth_to_color", "open_realsense"]

RECORDING_SUFFIXES = (".db3", ".bag")
_COLOR_FORMATS = (rs.format.bgr8, rs.format.rgb8, rs.format.bgra8, rs.format.rgba8)
_POLL_S = 0.05
_WAIT_S = 0.002  # the reader's wait for room in the queue
_END_POLLS = 4  # consecutive empty polls with the player stopped before we call it the end of the file
# ... unless the sidecar says a later color frame exists: the player reports "stopped" when its reader reaches
# the end of the file, and under load the SDK's dispatcher can hand over the last frames later than 4 polls
# (seen in the test suite: the last frame of a replay after a seek went missing). Then wait up to this long.
_LATE_S = 2.0
_STALL_S = 10.0  # no frame and no end for this long: the reader is stuck, say so instead of hanging
_MAX_WAITING = 30  # color frames held while waiting for depth; past that they go out without (depth lost)


def _intrinsics(profile: rs.video_stream_profile) -> Intrinsics:
    i = profile.get_intrinsics()
    return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy)


def open_realsense(argument: str = "", **options: Any) -> Source:
    """`realsense` / `realsense:SERIAL` open a camera; `realsense:PATH` or a `.db3`/`.bag` path a recording."""
    if argument.lower().endswith(RECORDING_SUFFIXES) or Path(argument).suffix:
        return RealSensePlayback(argument, **options)
    return RealSenseLive(argument or None, **options)


def align_depth_to_color(depth_m: np.ndarray, depth_intr: Intrinsics, color_intr: Intrinsics,
                         rotation: np.ndarray, translation_m: np.ndarray) -> np.ndarray:
    """Re-project a depth image onto the color camera (what `rs.align` does, without distortion models).

    Args:
        depth_m: (Hd, Wd) float32 metres, 0 = no data.
        rotation: (3, 3), translation_m: (3,) depth-to-color extrinsics (column-major rs order already undone).
    Returns:
        (Hc, Wc) float32 metres along the color camera's z; 0 where no depth pixel lands; the nearest wins.
    """
    same = (depth_intr == color_intr and np.allclose(rotation, np.eye(3)) and np.allclose(translation_m, 0))
    if same:
        return depth_m
    v, u = np.nonzero(depth_m > 0)
    pts = depth_intr.deproject(u, v, depth_m[v, u]) @ rotation.T + translation_m  # (N, 3) in the color camera
    pts = pts[pts[:, 2] > 1e-6]
    uv = np.round(color_intr.project(pts)).astype(np.int64)  # (N, 2)
    uc, vc = uv[:, 0], uv[:, 1]
    inside = (uc >= 0) & (uc < color_intr.width) & (vc >= 0) & (vc < color_intr.height)
    flat = vc[inside] * color_intr.width + uc[inside]
    zc = pts[inside, 2]
    order = np.lexsort((zc, flat))  # by pixel, nearest first
    first = np.unique(flat[order], return_index=True)[1]
    out = np.zeros(color_intr.height * color_intr.width, dtype=np.float32)
    out[flat[order][first]] = zc[order][first]
    return out.reshape(color_intr.height, color_intr.width)


def _color_to_bgr(frame: rs.video_frame) -> np.ndarray:
    fmt = frame.get_profile().format()
    data = np.asanyarray(frame.get_data())
    if fmt == rs.format.bgr8:
        return data.copy()
    if fmt == rs.format.rgb8:
        return np.ascontiguousarray(data[..., ::-1])
    if fmt == rs.format.bgra8:
        return np.ascontiguousarray(data[..., :3])
    return np.ascontiguousarray(data[..., 2::-1])  # rgba8


def _halt(stopping: threading.Event, sensors: tuple[rs.sensor, ...]) -> None:
    """Release the SDK's reader thread from our callback and stop the sensors (errors: already stopped)."""
    stopping.set()
    for sensor in sensors:
        try:
            sensor.stop()
        except RuntimeError:
            pass


class RealSenseLive(Source):
    """A live camera through `rs.pipeline`, depth aligned to color by `rs.align`; frames may be dropped."""

    def __init__(self, serial: str | None = None, *, width: int = 640, height: int = 480, fps: int = 30,
                 timeout_s: float = 5.0) -> None:
        """Raises SourceError when no camera (or not the asked serial) is attached or the mode is refused."""
        context = rs.context()
        found = [(d.get_info(rs.camera_info.name), d.get_info(rs.camera_info.serial_number))
                 for d in context.query_devices()]
        listing = ", ".join(f"{n} (serial {s})" for n, s in found) or "none"
        if not found or (serial is not None and serial not in [s for _, s in found]):
            wanted = f"RealSense camera with serial {serial}" if serial else "RealSense camera"
            raise SourceError(
                f"no {wanted} found; devices found: {listing}. Check the USB cable (use a USB 3 port and cable) "
                f"and that no other program holds the camera, or open a recording (.db3 / .bag) instead")
        config = rs.config()
        if serial:
            config.enable_device(serial)
        config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        config.enable_stream(rs.stream.color, width, height, rs.format.bgr8, fps)
        self._pipeline = rs.pipeline(context)
        try:
            profile = self._pipeline.start(config)
        except RuntimeError as exc:
            raise SourceError(f"RealSense {serial or found[0][1]}: cannot stream {width}x{height} at {fps} fps "
                              f"({exc}); pick a resolution and frame rate the camera supports") from None
        device = profile.get_device()
        self._name = f"{device.get_info(rs.camera_info.name)} {device.get_info(rs.camera_info.serial_number)}"
        self._depth_scale = device.first_depth_sensor().get_depth_scale()
        self._intrinsics = _intrinsics(profile.get_stream(rs.stream.color).as_video_stream_profile())
        self._align = rs.align(rs.stream.color)
        self._fps, self._timeout_ms = float(fps), int(timeout_s * 1000)
        self._index, self._t0_ms, self._closed = 0, None, False

    name = property(lambda self: self._name)
    is_live = property(lambda self: True)
    has_depth = property(lambda self: True)
    intrinsics = property(lambda self: self._intrinsics)
    fps = property(lambda self: self._fps)

    def __iter__(self) -> Iterator[FrameBundle]:
        while not self._closed:
            try:
                frames = self._align.process(self._pipeline.wait_for_frames(self._timeout_ms))
            except RuntimeError as exc:
                raise SourceError(f"{self._name}: no frame within {self._timeout_ms / 1000:.1f} s ({exc}); "
                                  f"check the USB cable and power") from None
            color, depth = frames.get_color_frame(), frames.get_depth_frame()
            if not color or not depth:
                continue
            self._t0_ms = color.get_timestamp() if self._t0_ms is None else self._t0_ms
            depth_m = np.asanyarray(depth.get_data()).astype(np.float32) * np.float32(self._depth_scale)
            yield FrameBundle(self._index, (color.get_timestamp() - self._t0_ms) / 1000.0,
                              _color_to_bgr(color), depth_m, self._intrinsics, ())
            self._index += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pipeline.stop()


class RealSensePlayback(Source):
    """A RealSense recording (.db3 or RealSense's ROS 1 .bag), every frame exactly once, no real-time pacing.

    Frames are the color frames, each with the depth frame nearest in time (within `pair_tolerance_s`,
    default half a color frame period; otherwise `depth_m` is None), mapped onto the color image.
    `index` is the color frame number minus the first one (a camera's recording skips numbers where it
    dropped frames); `timestamp_s` is from the first color frame.
    """

    def __init__(self, path: str | Path, *, pair_tolerance_s: float | None = None, queue_frames: int = 8) -> None:
        """Raises SourceError for a missing, truncated or corrupt file, or one without color or depth."""
        self._path = Path(path)
        if not self._path.is_file():
            raise SourceError(f"RealSense recording {self._path} does not exist; check the path")
        if self._path.suffix.lower() not in RECORDING_SUFFIXES:
            raise SourceError(f"{self._path}: a RealSense recording ends in .db3 or .bag")
        self._stopping = threading.Event()
        self._finalizer: weakref.finalize | None = None
        self._load()
        self._depth_scale = np.float32(self._depth_sensor.as_depth_sensor().get_depth_scale())
        self._color_intr = _intrinsics(self._color_profile)
        self._depth_intr = _intrinsics(self._depth_profile)
        self._rotation, self._translation = self._extrinsics()
        self._fps = float(self._color_profile.fps())
        self._tolerance_ms = 1000.0 * (pair_tolerance_s if pair_tolerance_s is not None else 0.5 / self._fps)
        meta = read_sidecar(sidecar_path(self._path))
        self._truth = meta.truth if meta else None
        self._frame_count = meta.frames if meta else None  # color frames in the file, when the sidecar says
        self._newest_color: int | None = None  # frame number of the newest color frame read
        self._duration_s = meta.duration_s if meta else self._player.get_duration().total_seconds()
        self._capacity = queue_frames
        self._queue: queue.Queue = queue.Queue()  # bounded by _on_frame, except while _start runs
        self._starting = self._streaming = self._used = self._closed = False
        self._first: tuple[int, float] | None = None  # (frame number, timestamp ms) of the first color frame
        self._positions: list[tuple[float, int]] = []  # (media time s, player position ns) of color frames seen
        self._last_ms = {True: -np.inf, False: -np.inf}  # per stream (is_depth): newest frame time accepted
        self._skip_before_s = 0.0
        self._depths: list[tuple[float, np.ndarray]] = []  # (timestamp ms, Z16 pixels) waiting for a partner
        self._colors: list[tuple[int, float, np.ndarray]] = []  # (frame number, timestamp ms, BGR) waiting

    def _load(self) -> None:
        """Open the file as a fresh playback device (at its start), find the two streams."""
        try:
            self._device = rs.context().load_device(str(self._path))
        except RuntimeError as exc:
            raise SourceError(f"{self._path}: the recording is truncated or corrupt ({exc}); record it again, or "
                              f"open another copy") from None
        self._player = self._device.as_playback()
        self._player.set_real_time(False)
        self._depth_sensor, self._depth_profile = self._find(rs.stream.depth, (rs.format.z16,))
        self._color_sensor, self._color_profile = self._find(rs.stream.color, _COLOR_FORMATS)
        # A source left streaming at interpreter exit would have the SDK call into a dying interpreter (abort):
        # the finalizer stops the sensors, also when nobody called close().
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _halt, self._stopping, (self._depth_sensor, self._color_sensor))

    def _find(self, stream: rs.stream,
              formats: tuple[rs.format, ...]) -> tuple[rs.sensor, rs.video_stream_profile]:
        for sensor in self._device.query_sensors():
            for profile in sensor.get_stream_profiles():
                if profile.stream_type() == stream and profile.format() in formats:
                    return sensor, profile.as_video_stream_profile()
        found = [str(p) for s in self._device.query_sensors() for p in s.get_stream_profiles()] or ["no streams"]
        what = "depth (Z16)" if stream == rs.stream.depth else "color (RGB8/BGR8/RGBA8/BGRA8)"
        raise SourceError(f"{self._path}: the recording has no {what} stream (it holds: {'; '.join(found)}); "
                          f"skelwatch needs color and depth: record with both streams enabled")

    def _extrinsics(self) -> tuple[np.ndarray, np.ndarray]:
        try:
            ext = self._depth_profile.get_extrinsics_to(self._color_profile)
        except RuntimeError:
            logger.info("%s: no depth-to-color extrinsics stored; assuming the cameras coincide", self._path.name)
            return np.eye(3), np.zeros(3)
        return np.asarray(ext.rotation, dtype=np.float64).reshape(3, 3).T, np.asarray(ext.translation)

    name = property(lambda self: self._path.name)
    is_live = property(lambda self: False)
    has_depth = property(lambda self: True)
    intrinsics = property(lambda self: self._color_intr)
    fps = property(lambda self: self._fps)
    duration_s = property(lambda self: self._duration_s)
    depth_scale_m = property(lambda self: float(self._depth_scale), doc="Metres per depth unit.")

    def _on_frame(self, frame: rs.frame) -> None:
        # Runs on the SDK's reader thread: copy the pixels out (the SDK reuses its frame pool), then wait for
        # room. Never wait while _start runs: its seek needs this thread, a wait there would deadlock.
        is_depth = frame.get_profile().stream_type() == rs.stream.depth
        video = frame.as_video_frame()
        pixels = np.asanyarray(video.get_data()).copy() if is_depth else _color_to_bgr(video)
        item = (is_depth, frame.get_frame_number(), frame.get_timestamp(), pixels, self._player.get_position())
        while not self._stopping.is_set():
            if self._starting or self._queue.qsize() < self._capacity:
                self._queue.put(item)
                return
            time.sleep(_WAIT_S)

    def _start(self, position_ns: int) -> None:
        """Stream from `position_ns` (player position) on a fresh device.

        Measured on 2.59.1: seeking before the sensors start is ignored (.db3) or replays from 0 (.bag), and
        without a seek after the start a .bag loses the second stream's first frames. So: a fresh device (its
        reader is at the file start), start both sensors, seek. Frames read between the start and the seek
        come from the file start; `__iter__` drops every frame not newer than the last one of its stream, so
        each frame is yielded once and in order.
        """
        if self._used:
            self._load()
        self._used = True
        self._starting = True
        self._last_ms = {True: -np.inf, False: -np.inf}
        for sensor, profile in ((self._depth_sensor, self._depth_profile), (self._color_sensor, self._color_profile)):
            sensor.open(profile)
            sensor.start(self._on_frame)
        self._player.seek(datetime.timedelta(microseconds=position_ns // 1000))
        self._starting = False
        self._streaming = True

    def _stop(self) -> None:
        if not self._streaming:
            return
        _halt(self._stopping, (self._depth_sensor, self._color_sensor))  # the player may have stopped them
        for sensor in (self._depth_sensor, self._color_sensor):
            sensor.close()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._depths.clear()
        self._colors.clear()
        self._stopping.clear()
        self._streaming = False

    def seek(self, t_s: float) -> None:
        """Go to the first color frame at or after `t_s` (exact: frames before it are read and skipped)."""
        target = check_seek_time(self, t_s)
        self._stop()
        self._skip_before_s = target

    def _resume_position(self) -> int:
        # The player seeks by recording (wall-clock) time, not frame time: start from the last color frame
        # already seen two frames before the target, or from the start.
        k = bisect_right(self._positions, (self._skip_before_s - 2.0 / self._fps, float("inf")))
        return self._positions[k - 1][1] if k > 0 else 0

    def _frames_raw(self) -> Iterator[tuple]:
        """Yield queued frames, each once and in order per stream, until the end of the file or close()."""
        player = self._player  # close() from another thread drops self._player; this keeps it until we stop
        idle = waited = 0
        while not self._closed and not (idle >= _END_POLLS and (self._read_all() or idle * _POLL_S >= _LATE_S)):
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                status = player.current_status()
                idle = idle + 1 if status == rs.playback_status.stopped else 0
                waited += 1
                if waited * _POLL_S > _STALL_S:
                    raise SourceError(f"{self.name}: the RealSense SDK delivered no frame for {_STALL_S:.0f} s "
                                      f"(player {status}); the file may be damaged: open it again or re-record")
                continue
            idle = waited = 0
            is_depth, stamp_ms = item[0], item[2]
            if stamp_ms <= self._last_ms[is_depth]:
                continue  # read again after the start-up seek
            self._last_ms[is_depth] = stamp_ms
            if not is_depth:
                self._newest_color = item[1]
            yield item

    def _read_all(self) -> bool:
        """Whether the last color frame the sidecar counts has been read (True when there is no sidecar)."""
        if self._frame_count is None:
            return True
        if self._first is None or self._newest_color is None:
            return False
        return self._newest_color - self._first[0] >= self._frame_count - 1

    def __iter__(self) -> Iterator[FrameBundle]:
        if self._closed:
            raise SourceError(f"{self.name}: the source is closed; open the recording again")
        if not self._streaming:
            self._start(self._resume_position())
        depths, colors = self._depths, self._colors  # kept on self: a new iteration resumes where one stopped
        for is_depth, number, stamp_ms, pixels, position in self._frames_raw():
            if is_depth:
                depths.append((stamp_ms, pixels))
            else:
                colors.append((number, stamp_ms, pixels))
                self._note_position(number, stamp_ms, position)
            while colors and ((depths and depths[-1][0] >= colors[0][1]) or len(colors) > _MAX_WAITING):
                yield from self._emit(colors.pop(0), depths)
        if self._closed:
            return
        while colors:
            yield from self._emit(colors.pop(0), depths)
        self._stop()
        self._skip_before_s = float("inf")  # at the end: iterating again yields nothing until a seek

    def _note_position(self, number: int, stamp_ms: float, position_ns: int) -> None:
        if self._first is None:
            self._first = (number, stamp_ms)
        t_s = (stamp_ms - self._first[1]) / 1000.0
        if not self._positions or t_s > self._positions[-1][0]:
            self._positions.append((t_s, position_ns))

    def _emit(self, color: tuple[int, float, np.ndarray], depths: list) -> Iterator[FrameBundle]:
        number, stamp_ms, bgr = color
        t_s = (stamp_ms - self._first[1]) / 1000.0
        if t_s < self._skip_before_s - 1e-6:
            return
        best = min(range(len(depths)), key=lambda k: abs(depths[k][0] - stamp_ms), default=None)
        depth_m = None
        if best is not None and abs(depths[best][0] - stamp_ms) <= self._tolerance_ms:
            raw = depths[best][1].astype(np.float32) * self._depth_scale
            depth_m = align_depth_to_color(raw, self._depth_intr, self._color_intr, self._rotation,
                                           self._translation)
        del depths[: max(0, (best or 0))]  # older depth frames can no longer be the nearest
        index = number - self._first[0]
        truth = self._truth[index] if self._truth is not None and 0 <= index < len(self._truth) else ()
        yield FrameBundle(index, t_s, bgr, depth_m, self._color_intr, truth)

    def close(self) -> None:
        """Stop reading and release the file; safe to call from another thread than the one iterating."""
        if not self._closed:
            self._closed = True
            self._stop()
            self._finalizer.detach()
            self._device = self._player = None
