"""Window buffer: the camera-to-training conversion (checked against real Kinect v2 files), window timing and
stride, gap interpolation and splitting, flushing lost tracks, hand-over on re-acquisition, batching."""
from __future__ import annotations


import numpy as np
import pytest

from app.config.capture import BufferConfig
from capture.buffer import BufferError, WindowBuffer, camera_to_model
from capture.frames import Skeleton3D
from capture.tracking import Tracker
from reid.datasets.ucalgary import read_positions
from reid.skeleton import CANONICAL_JOINTS, to_canonical
from tests.shared_data import shared_path

UCALGARY = shared_path("ucalgary-gait", "frontview")
J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}

# A person facing the camera, camera frame (x right, y down, z forward): their left side is on the camera's
# right (+x), their head above the hips (-y), their feet point at the camera (-z).
FACING_CAMERA = np.zeros((20, 3), dtype=np.float32)
for name, xyz in {
        "Spine": (0, -0.25, 0), "ShoulderCenter": (0, -0.5, 0), "Head": (0, -0.7, 0),
        "ShoulderLeft": (0.2, -0.48, 0), "ElbowLeft": (0.25, -0.2, 0), "WristLeft": (0.27, 0.05, 0),
        "HandLeft": (0.27, 0.12, 0), "ShoulderRight": (-0.2, -0.48, 0), "ElbowRight": (-0.25, -0.2, 0),
        "WristRight": (-0.27, 0.05, 0), "HandRight": (-0.27, 0.12, 0), "HipLeft": (0.1, 0.05, 0),
        "KneeLeft": (0.1, 0.45, 0), "AnkleLeft": (0.1, 0.85, 0), "FootLeft": (0.1, 0.9, -0.1),
        "HipRight": (-0.1, 0.05, 0), "KneeRight": (-0.1, 0.45, 0), "AnkleRight": (-0.1, 0.85, 0),
        "FootRight": (-0.1, 0.9, -0.1)}.items():
    FACING_CAMERA[J[name]] = xyz


def skel(index: int, fps: float = 30.0, x: float = 0.0, joints: np.ndarray | None = None) -> Skeleton3D:
    """The person at (x, 0, 3 - 1.2 t) walking towards the camera; frame `index`."""
    t = index / fps
    pose = FACING_CAMERA if joints is None else joints
    return Skeleton3D(joints=pose + np.float32([x, 0.0, 3.0 - 1.2 * t]), confidence=np.ones(20, np.float32),
                      box=None, timestamp_s=t, frame_index=index)


def chirality(joints: np.ndarray) -> np.ndarray:
    """(T, 20, 3) walking skeletons -> (T,) sign of (ShoulderLeft - ShoulderRight) . (up x walking direction):
    positive for a real body in a right-handed frame, negative for a mirrored one."""
    up = joints[:, J["Head"]] - joints[:, J["HipCenter"]]
    forward = np.gradient(joints[:, J["HipCenter"]], axis=0)
    side = joints[:, J["ShoulderLeft"]] - joints[:, J["ShoulderRight"]]
    return np.sign(np.einsum("td,td->t", side, np.cross(up, forward)))


def test_conversion_matches_the_kinect_training_frame():
    kinect = to_canonical(read_positions(next((UCALGARY / "sub1" / "Run1").glob("*GeometricPositions*.csv"))),
                          "ucalgary18")  # (T, 20, 3) Kinect v2 camera space, person walking towards the sensor
    assert np.mean(chirality(kinect) > 0) > 0.9
    assert np.mean(kinect[:, J["ShoulderLeft"], 0] < kinect[:, J["ShoulderRight"], 0]) > 0.9
    ours = np.stack([camera_to_model(skel(i).joints) for i in range(10)])  # (10, 20, 3)
    assert (chirality(ours) > 0).all()
    assert (ours[:, J["ShoulderLeft"], 0] < ours[:, J["ShoulderRight"], 0]).all()
    assert (ours[:, J["Head"], 1] > ours[:, J["HipCenter"], 1]).all()  # y up
    y_flip_only = np.stack([skel(i).joints * np.float32([1, -1, 1]) for i in range(10)])
    assert (chirality(y_flip_only) < 0).all()  # the rejected option mirrors the body


def feed(buffer: WindowBuffer, indices, track_id: int = 1, **kwargs) -> None:
    for i in indices:
        buffer.push(track_id, skel(i, **kwargs))


def test_windows_follow_frames_and_stride_then_the_tail_is_flushed():
    buffer = WindowBuffer(frames=6, stride=3)
    feed(buffer, range(20))
    windows = buffer.drain(100)
    assert [w.frame_indices[-1] for w in windows] == [5, 8, 11, 14, 17]
    buffer.end(1)
    (tail,) = buffer.drain(100)
    assert tail.frame_indices.tolist() == list(range(14, 20)) and buffer.track_ids == []
    first = windows[0]
    assert first.data.shape == (6, 20, 3) and first.data.dtype == np.float32
    assert np.all(first.data[:, 0] == 0.0)  # root-centred per frame
    np.testing.assert_allclose(first.raw[2], camera_to_model(skel(2).joints), atol=1e-6)
    np.testing.assert_allclose(first.data, first.raw - first.raw[:, :1], atol=1e-6)
    assert (first.t_start_s, first.t_end_s) == (0.0, pytest.approx(5 / 30))
    assert not first.filled.any()


def test_short_gaps_are_interpolated_and_flagged():
    buffer = WindowBuffer(frames=6, stride=6, max_gap_s=0.2)
    feed(buffer, [0, 1, 2, 5, 6, 7, 8])  # frames 3 and 4 missed: 0.1 s
    (window,) = buffer.drain(10)
    assert window.frame_indices.tolist() == [0, 1, 2, 3, 4, 5]
    assert window.filled.tolist() == [False, False, False, True, True, False]
    expected = camera_to_model(skel(2).joints) + (camera_to_model(skel(5).joints) - camera_to_model(
        skel(2).joints)) / 3.0
    np.testing.assert_allclose(window.raw[3], expected, atol=1e-5)


@pytest.mark.parametrize("interpolate, missed, fps", [(True, range(10, 17), 30.0), (False, [10], 30.0),
                                                      (True, range(10, 16), 120.0)])
def test_no_window_spans_a_long_gap(interpolate, missed, fps):
    """Too long (0.27 s), not interpolated, or too many frames to make up (6 of 6, though only 0.06 s)."""
    buffer = WindowBuffer(frames=6, stride=1, max_gap_s=0.2, interpolate=interpolate, fps=fps)
    feed(buffer, [i for i in range(40) if i not in set(missed)], fps=fps)
    windows = buffer.drain(1000)
    assert windows
    for w in windows:
        assert np.all(np.diff(w.frame_indices) == 1)
        assert not set(w.frame_indices.tolist()) & set(missed)
        assert not w.filled.any()


def test_missing_joints_are_interpolated_a_missing_root_is_a_missed_frame():
    buffer = WindowBuffer(frames=4, stride=4)
    for i in range(8):
        pose = FACING_CAMERA.copy()
        if i == 1:
            pose[J["HandLeft"]] = np.nan
        if i == 5:
            pose[J["HipCenter"]] = np.nan
        buffer.push(1, skel(i, joints=pose))
    first, second = buffer.drain(10)
    np.testing.assert_allclose(first.raw[1, J["HandLeft"]],
                               (first.raw[0, J["HandLeft"]] + first.raw[2, J["HandLeft"]]) / 2, atol=1e-5)
    assert second.filled.tolist() == [False, True, False, False] and second.frame_indices.tolist() == [4, 5, 6, 7]
    buffer = WindowBuffer(frames=4, stride=4)
    never = FACING_CAMERA.copy()
    never[J["FootRight"]] = np.nan
    feed(buffer, range(4), joints=never)
    assert buffer.drain(10) == [] and buffer.skipped == 1


def test_tracker_output_flushes_lost_tracks_and_hands_over_reacquired_ones():
    tracker = Tracker(lost_after_s=0.5, delete_after_s=3.0)
    buffer = WindowBuffer(frames=6, stride=6, max_gap_s=0.2)
    windows = []
    for i in range(int(3.5 * 30)):
        visible = not (30 <= i < 60)  # hidden 1 s: lost after 0.5 s, then reacquired
        updates = tracker.update([skel(i, x=0.5)] if visible else [], i / 30)
        buffer.update(updates, tracker.pop_events())
        if i == 50:
            assert buffer.track_ids == []  # lost: flushed and freed
        windows += buffer.drain(8)
    assert {w.track_id for w in windows} == {1, 2}  # 2 = the tentative id before the merge
    late = [w for w in windows if w.frame_indices[0] >= 60]
    assert late and all(w.track_id in (1, 2) for w in late)
    assert windows[-1].track_id == 1 and buffer.track_ids == [1]
    assert all(np.all(np.diff(w.frame_indices) == 1) for w in windows)


def test_drain_batches_oldest_first_and_counts_drops():
    buffer = WindowBuffer(frames=2, stride=1, max_pending=3)
    feed(buffer, range(6))  # 5 windows, room for 3
    assert buffer.pending == 3 and buffer.dropped == 2
    batch = buffer.drain(2)
    assert [w.frame_indices[-1] for w in batch] == [3, 4]
    assert np.stack([w.data for w in batch]).shape == (2, 2, 20, 3)
    assert [w.frame_indices[-1] for w in buffer.drain(10)] == [5] and buffer.drain(10) == []


def test_bad_settings_and_out_of_order_frames_are_refused():
    with pytest.raises(BufferError, match="frames=1"):
        WindowBuffer(frames=1)
    buffer = WindowBuffer(**BufferConfig().model_dump())
    feed(buffer, [3])
    with pytest.raises(BufferError, match="frame 2 after frame 3"):
        feed(buffer, [2])


def test_windows_keep_the_encoder_rate_whatever_the_source_rate():
    """A 10 fps video and a 30 fps camera give windows of the same span (f samples at 30 fps), resampled by
    timestamp; a 10 fps stream gives three samples per frame, the observed frames exactly among them."""
    spans = {}
    for fps in (10.0, 30.0):
        buffer = WindowBuffer(frames=6, stride=3)
        feed(buffer, range(int(2 * fps)), fps=fps)  # 2 s of walking
        windows = buffer.drain(1000)
        spans[fps] = {round(w.t_end_s - w.t_start_s, 6) for w in windows}
        expected = {10.0: 18, 30.0: 19}[fps]  # samples at 0 .. 57 (1.9 s) and 0 .. 59 (59/30 s)
        assert len(windows) == buffer.stats.windows == expected and not any(w.filled.any() for w in windows)
    assert spans[10.0] == spans[30.0] == {round(5 / 30, 6)}
    first = WindowBuffer(frames=6, stride=3)
    feed(first, range(4), fps=10.0)
    window = first.drain(10)[0]
    np.testing.assert_allclose(window.raw[3], camera_to_model(skel(1, fps=10.0).joints), atol=1e-5)
    np.testing.assert_allclose(window.raw[1], (2 * window.raw[0] + window.raw[3]) / 3, atol=1e-5)


def test_unsure_joints_are_filled_and_bad_frames_counted_not_fatal():
    buffer = WindowBuffer(frames=4, stride=4)
    for i in range(6):
        conf = np.ones(20, np.float32)
        if i == 1:
            conf[J["FootLeft"]] = 0.05  # MediaPipe's unsure feet on a small person
        joints = FACING_CAMERA + np.float32([0.0, 0.0, 3.0 - 0.04 * i])
        if i == 4:
            joints = np.full((20, 3), np.nan, np.float32)  # a skeleton with NaN joints
        buffer.push(1, Skeleton3D(joints=joints, confidence=conf, box=None, timestamp_s=i / 30, frame_index=i))
    buffer.end(1)
    first, second = buffer.drain(10)
    np.testing.assert_allclose(first.raw[1, J["FootLeft"]],
                               (first.raw[0, J["FootLeft"]] + first.raw[2, J["FootLeft"]]) / 2, atol=1e-5)
    assert second.filled.tolist() == [False, False, True, False]  # frame 4 made from its neighbours
    s = buffer.stats
    assert (s.frames_in, s.refused_low_confidence, s.frames_filled, s.joints_filled) == (5, 1, 1, 1)
    for fps, reason in ((1000.0, "refused_too_short"), (0.5, "refused_gap")):  # absurd rates: counted, no raise
        odd = WindowBuffer()
        feed(odd, range(40), track_id=2, fps=fps)
        odd.end(2)
        assert odd.stats.windows == 0 and getattr(odd.stats, reason) > 0
