"""RealSense recording and playback on real files: .db3 written by the SDK recorder, .bag by our ROS 1 writer."""
from __future__ import annotations

import threading
import time

import numpy as np
import pyrealsense2 as rs
import pytest

from capture.frames import Intrinsics
from capture.rosbag1 import RealSenseBagWriter
from capture.sources import SourceError, open_source
from capture.sources.realsense import (RealSenseLive, RealSensePlayback, RealSenseRecorder,
                                       align_depth_to_color)
from capture.sources.recording_meta import read_sidecar, sidecar_path
from capture.sources.synthetic import SyntheticScene, record_scene

FPS = 15.0


@pytest.fixture(scope="module", params=["db3", "bag"])
def scene_and_recording(request, tmp_path_factory):
    """A 2 s, 3-person 320x240 scene (30 frames) and its recording: SDK-made .db3, or RealSense-layout .bag."""
    scene = SyntheticScene(3, 2.0, FPS, seed=3, width=320, height=240)
    rendered = [scene.frame(i) for i in range(scene.num_frames)]
    path = tmp_path_factory.mktemp("rs") / f"scene.{request.param}"
    assert record_scene(scene, path) == scene.num_frames
    return scene, rendered, path


def test_playback_gives_every_frame_once_with_depth_color_truth(scene_and_recording):
    scene, rendered, path = scene_and_recording
    with open_source(str(path)) as source:
        assert isinstance(source, RealSensePlayback) and not source.is_live and source.has_depth
        assert source.fps == FPS
        assert source.duration_s == pytest.approx(2.0)
        played = list(source)
    assert [f.index for f in played] == list(range(len(rendered)))
    assert [f.timestamp_s for f in played] == pytest.approx([f.timestamp_s for f in rendered], abs=1e-6)
    scale = 0.001
    for got, want in zip(played, rendered):
        assert got.depth_m.dtype == np.float32 and got.depth_m.shape == want.depth_m.shape
        assert np.abs(got.depth_m - want.depth_m).max() <= scale / 2 + 1e-6  # rounding to whole depth units
        assert np.array_equal(got.color, want.color)  # the recorder's PNG compression is lossless
        assert [t.identity for t in got.truth] == [t.identity for t in want.truth]
        for a, b in zip(got.truth, want.truth):
            np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
    assert sum(len(f.truth) for f in played) > 0


class StoppedEarly:
    """The playback device, except that it says it has stopped while the last frame is still on its way."""

    def __init__(self, player, source: "LateLastFrame") -> None:
        self._player, self._source = player, source

    def __getattr__(self, name: str):
        return getattr(self._player, name)

    def current_status(self):
        return rs.playback_status.stopped if self._source.in_flight else self._player.current_status()


class LateLastFrame(RealSensePlayback):
    """The SDK handing over the last color frame late, as under load, after its player already reports the end
    of the file (seen once in the test suite: the last frame of a replay went missing)."""

    def __init__(self, path, frames: int) -> None:
        self.frames, self.numbers, self.in_flight, self.delayed = frames, set(), False, False
        super().__init__(path)

    def _load(self) -> None:
        super()._load()
        self._player = StoppedEarly(self._player, self)

    def _on_frame(self, frame: rs.frame) -> None:
        if frame.get_profile().stream_type() == rs.stream.color:
            self.numbers.add(frame.get_frame_number())
            if len(self.numbers) == self.frames and not self.delayed:
                self.delayed = self.in_flight = True
                time.sleep(0.6)
                self.in_flight = False
        super()._on_frame(frame)


def test_a_last_frame_handed_over_late_is_still_read(scene_and_recording):
    _, rendered, path = scene_and_recording
    with LateLastFrame(path, len(rendered)) as source:
        played = [f.index for f in source]
        assert source.delayed
    assert played == list(range(len(rendered)))


def test_intrinsics_round_trip(scene_and_recording):
    scene, _, path = scene_and_recording
    with RealSensePlayback(path) as source:
        got, want = source.intrinsics, scene.intrinsics
        assert (got.width, got.height) == (want.width, want.height)
        np.testing.assert_allclose([got.fx, got.fy, got.cx, got.cy], [want.fx, want.fy, want.cx, want.cy],
                                   rtol=1e-6)  # stored as float32 by the SDK
        assert source.depth_scale_m == pytest.approx(0.001)


def test_seek_forward_back_and_after_the_end(scene_and_recording):
    _, rendered, path = scene_and_recording
    with RealSensePlayback(path) as source:
        first = [f.index for f, _ in zip(source, range(20))]
        assert first == list(range(20))
        source.seek(1.0)
        rest = list(source)
        assert [f.index for f in rest] == list(range(15, len(rendered)))
        assert np.array_equal(rest[0].color, rendered[15].color)
        assert list(source) == []  # at the end until the next seek
        source.seek(0.5)
        again = [f.index for f in source]
        assert again == list(range(8, len(rendered)))  # first frame at or after 0.5 s is 8/15 s
        source.seek(0.0)
        assert len(list(source)) == len(rendered)
        with pytest.raises(SourceError, match="lasts"):
            source.seek(10.0)


def test_truncated_recording_is_a_clear_error(scene_and_recording, tmp_path):
    _, _, path = scene_and_recording
    broken = tmp_path / f"broken{path.suffix}"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SourceError, match=f"broken{path.suffix}: the recording is truncated or corrupt"):
        RealSensePlayback(broken)


def test_missing_recording_and_wrong_suffix(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        open_source(str(tmp_path / "nothing.db3"))
    with pytest.raises(SourceError, match=r"\.db3 files only"):
        RealSenseRecorder(tmp_path / "x.bag", Intrinsics(64, 48, 50.0, 50.0, 32.0, 24.0), 15.0)
    with pytest.raises(SourceError, match=r"writes \.bag files"):
        RealSenseBagWriter(tmp_path / "x.db3", Intrinsics(64, 48, 50.0, 50.0, 32.0, 24.0), 15.0)


def test_recording_without_depth_is_a_clear_error(tmp_path):
    path = tmp_path / "color_only.db3"
    device = rs.software_device()
    sensor = device.add_sensor("Color")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = 64, 48, 50.0, 50.0, 32.0, 24.0
    spec = rs.video_stream()
    spec.type, spec.index, spec.uid, spec.width, spec.height, spec.fps = rs.stream.color, 0, 0, 64, 48, 15
    spec.bpp, spec.fmt, spec.intrinsics = 3, rs.format.bgr8, intr
    profile = sensor.add_video_stream(spec).as_video_stream_profile()
    recorder = rs.recorder(str(path), device)
    frames = rs.frame_queue(2)
    sensor.open(profile)
    sensor.start(frames)
    for i in range(3):
        frame = rs.software_video_frame()
        frame.pixels, frame.bpp, frame.stride = np.full((48, 64, 3), i, np.uint8), 3, 64 * 3
        frame.timestamp, frame.frame_number, frame.profile = i * 66.7, i, profile
        frame.domain = rs.timestamp_domain.hardware_clock
        sensor.on_video_frame(frame)
        frames.wait_for_frame(5000)
    sensor.stop()
    sensor.close()
    del recorder, device
    with pytest.raises(SourceError, match="color_only.db3: the recording has no depth"):
        RealSensePlayback(path)


def test_recorder_rejects_a_frame_of_the_wrong_size(tmp_path):
    intr = Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    scene = SyntheticScene(1, 0.2, FPS, seed=1, width=80, height=60)
    with RealSenseRecorder(tmp_path / "r.db3", intr, FPS) as recorder:
        with pytest.raises(SourceError, match="needs color 64x48x3"):
            recorder.write(scene.frame(0))
        assert recorder.frames_written == 0
    meta = read_sidecar(sidecar_path(tmp_path / "r.db3"))
    assert meta is not None and meta.frames == 0


def test_align_depth_to_color_shifts_a_plane_by_the_baseline():
    intr = Intrinsics(80, 60, 50.0, 50.0, 39.5, 29.5)
    depth = np.full((60, 80), 2.0, np.float32)
    depth[:, :40] = 0.0  # left half has no data
    out = align_depth_to_color(depth, intr, intr, np.eye(3), np.array([0.2, 0.0, 0.0]))
    # A point at z = 2 m moves by fx * 0.2 / 2 = 5 px to the right in the color camera.
    assert np.all(out[:, 45:] == pytest.approx(2.0))
    assert np.all(out[:, :45] == 0.0)
    assert align_depth_to_color(depth, intr, intr, np.eye(3), np.zeros(3)) is depth


def test_live_without_a_camera_lists_what_was_found():
    if len(rs.context().query_devices()) > 0:
        pytest.skip("a RealSense camera is attached: the no-device message cannot be produced")
    with pytest.raises(SourceError, match="devices found: none.*USB cable.*recording"):
        RealSenseLive()
    with pytest.raises(SourceError, match="serial 12345"):
        open_source("realsense:12345")


def test_close_from_another_thread_ends_the_iteration(scene_and_recording):
    _, rendered, path = scene_and_recording
    source = RealSensePlayback(path, queue_frames=2)
    seen, errors = [], []
    started = threading.Event()

    def consume() -> None:
        try:
            for frame in source:
                seen.append(frame.index)
                started.set()
                time.sleep(0.02)  # a slow consumer: the SDK's reader waits on the full queue
        except Exception as exc:  # noqa: BLE001 - the test reports whatever escaped
            errors.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    assert started.wait(30.0), errors
    source.close()
    worker.join(10.0)
    assert not worker.is_alive() and errors == []
    assert 1 <= len(seen) < len(rendered) and seen == list(range(len(seen)))
    with pytest.raises(SourceError, match="closed"):
        iter(source).__next__()
