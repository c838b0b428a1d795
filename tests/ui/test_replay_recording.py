"""Replay controls (pause, step, seek, speed) and recording a session, driven by keys and clicks."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from app.session import is_session, read_manifest
from ui.controller import sessions_dir
from tests.ui.conftest import screenshot


def _frame_index(window) -> int:
    return window.view.frame.frame_index if window.view.frame is not None else -1


def test_pause_step_seek_and_speed(qtbot, window):
    qtbot.waitUntil(lambda: window.view.frame is not None, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.controller.paused
    pipeline = window.controller.pipeline
    # Paused: the source reads nothing more, so the screen ends on the last frame read (the queues drain).
    qtbot.waitUntil(lambda: _frame_index(window) == pipeline.frames_read[1], timeout=10_000)
    read, held = pipeline.frames_read
    assert _frame_index(window) == held
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: _frame_index(window) > held, timeout=10_000)
    assert pipeline.frames_read == (read + 1, _frame_index(window))  # one step, then paused again
    assert window.controller.paused

    timeline = window.replay.timeline
    bar = timeline._bar()
    target = QPoint(int(bar.left() + 0.75 * bar.width()), int(bar.center().y()))
    qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=target)
    qtbot.waitUntil(lambda: window.view.frame is not None and window.view.frame.timestamp_s >= 4.0, timeout=10_000)
    assert abs(window.view.frame.timestamp_s - 4.5) < 0.5  # 75 % of the 6 s recording
    assert "00:04" in window.replay.clock.text()

    qtbot.keyClick(window, Qt.Key.Key_Plus)
    assert window.controller.speed == 2.0 and window.replay.speed.currentText() == "2×"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.controller.paused
    screenshot(window, "replay_after_seek")


def test_record_a_session_with_timer_and_size(qtbot, window, config):
    qtbot.waitUntil(lambda: window.view.frame is not None and window.recorder.isEnabled(), timeout=60_000)
    qtbot.mouseClick(window.recorder.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.recorder.folder is not None, timeout=10_000)
    folder: Path = window.recorder.folder
    assert window.recorder.button.text() == "■ Stop"
    start = _frame_index(window)
    qtbot.waitUntil(lambda: _frame_index(window) >= start + 15, timeout=30_000)
    window.recorder.tick()
    assert window.recorder.label.text().startswith("REC 00:0")
    screenshot(window, "recording")
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.recorder.folder is None, timeout=30_000)
    assert is_session(folder) and folder.parent == sessions_dir(config)
    manifest = read_manifest(folder)
    assert manifest.complete and manifest.frames and manifest.frames >= 10
    assert window.recorder.label.text().startswith(f"saved {folder.name}")
    # The new session is offered in the source list and replays from its folder.
    qtbot.waitUntil(lambda: window.source_picker.findData(str(folder)) >= 0, timeout=5_000)
    window.source_picker.setCurrentIndex(window.source_picker.findData(str(folder)))
    qtbot.mouseClick(window.toolbar_button("Open"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.current is not None and window.controller.current.session == folder,
                    timeout=30_000)
    qtbot.waitUntil(lambda: window.view.frame is not None and len(window.book.order) > 0, timeout=30_000)
    assert window.source_label.text().startswith("replay:")
