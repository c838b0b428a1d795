"""Live view and source handling on a real window: named skeletons, depth toggle, bad sources, no camera."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from tests.ui.conftest import screenshot, wait_for_named_track

DEMO_NAMES = {"Ada", "Ben"}


def test_live_view_draws_named_tracks(qtbot, window):
    track_id = wait_for_named_track(qtbot, window)
    record = window.book.records[track_id]
    assert record.identity_name in DEMO_NAMES
    # The frame on screen draws the named track (the name comes with the track, not from the table).
    qtbot.waitUntil(lambda: window.view.frame is not None and any(
        v.track_id == track_id and v.identity_name in DEMO_NAMES for v in window.view.frame.tracks), timeout=30_000)
    assert window.view.frame.color is not None
    row = window.book.row_of(track_id)
    assert window.track_model.index(row, 3).data() == record.identity_name
    assert window.source_label.text().startswith("replay: scene.db3")
    assert window.source_picker.currentText() == "scene.db3"  # the Source box names what is playing
    screenshot(window, "live_view_named")


def test_depth_toggle_by_key(qtbot, window):
    qtbot.waitUntil(lambda: window.view.frame is not None, timeout=60_000)
    assert window.view.image_kind == "color"
    qtbot.keyClick(window, Qt.Key.Key_Space)  # hold one frame so both images show the same moment
    qtbot.wait(300)
    frame = window.view.frame
    window.view.show_frame(frame)
    color = window.view._pixels.copy()
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.view.image_kind == "depth"
    assert window.image_toggle.isChecked()
    window.view.show_frame(frame)
    depth = window.view._pixels
    assert depth.shape == color.shape and depth.shape[2] == 4
    assert not np.array_equal(depth, color)
    d = np.where(frame.depth_m > 0, frame.depth_m, np.nan)
    sy, sx = depth.shape[0] / d.shape[0], depth.shape[1] / d.shape[1]
    near = np.unravel_index(np.nanargmin(d), d.shape)
    far = np.unravel_index(np.nanargmax(d), d.shape)
    near_px = depth[min(int(near[0] * sy), depth.shape[0] - 1), min(int(near[1] * sx), depth.shape[1] - 1)]
    far_px = depth[min(int(far[0] * sy), depth.shape[0] - 1), min(int(far[1] * sx), depth.shape[1] - 1)]
    assert int(near_px[2]) > int(near_px[0]) and int(far_px[0]) > int(far_px[2])  # BGRA: near red, far blue
    screenshot(window, "live_view_depth")


def test_unreadable_recording_is_reported_and_window_stays_usable(qtbot, window, tmp_path: Path, recorded_scene):
    qtbot.waitUntil(lambda: window.view.frame is not None, timeout=60_000)
    broken = tmp_path / "broken.db3"
    broken.write_bytes(b"this is not a ROS 2 bag" * 10)
    window.open_source(str(broken))
    qtbot.waitUntil(lambda: window.errors.last_message is not None and "broken.db3" in window.errors.last_message,
                    timeout=30_000)
    assert "Could not open the source" in window.view.message
    screenshot(window, "bad_recording")
    window.open_source(str(recorded_scene[0]))
    qtbot.waitUntil(lambda: window.view.frame is not None, timeout=60_000)


def test_missing_camera_says_so(qtbot, window):
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    window.source_picker.setCurrentIndex(window.source_picker.findData("realsense"))
    qtbot.mouseClick(window.toolbar_button("Open"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "No RealSense camera" in window.view.message, timeout=30_000)
    assert window.source_label.text() == "no camera"
    assert window.errors.last_message and "realsense" in window.errors.last_message.lower()
    screenshot(window, "no_camera")


def _crowd(n: int, observed: int) -> "FrameResult":
    """A frame of n people standing almost on top of each other (the first `observed` seen this frame)."""
    from app.events import Decision, FrameResult, TrackState, TrackView

    base = np.zeros((20, 3), np.float32)
    base[:, 1] = np.linspace(-0.8, 0.9, 20)  # a standing person, camera frame metres
    views = []
    for k in range(n):
        joints = base + np.array([0.05 * k, 0.0, 3.0], np.float32)
        views.append(TrackView(track_id=k + 1, state=TrackState.CONFIRMED, joints_3d=joints, keypoints_2d=None,
                               confidence=np.ones(20, np.float32), age_s=1.0, identity_name=f"Person {k}",
                               identity_id=k + 1, match_confidence=0.9, decision=Decision.MATCH,
                               observed=k < observed))
    return FrameResult(frame_index=0, timestamp_s=0.0, color=np.zeros((480, 640, 3), np.uint8), depth_m=None,
                       tracks=tuple(views), fps=15.0, dropped_frames=0)


def test_labels_of_a_crowd_do_not_overlap_and_unseen_people_are_not_drawn(qtbot):
    from ui.live_view import LiveView

    view = LiveView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show_frame(_crowd(8, observed=6))
    view.grab()  # paints
    boxes = view.label_boxes
    assert len(boxes) == 6  # the two people not seen this frame are not drawn (show_lost is off)
    assert not any(a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    view.show_lost = True
    view.show_frame(_crowd(8, observed=6))
    view.grab()
    assert len(view.label_boxes) == 8
