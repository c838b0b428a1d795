"""Alerts (watchlist rule fires, snapshot, jump to replay), training panel (progress, failure), settings, no display."""
from __future__ import annotations

import json
import math
from pathlib import Path

import yaml
from PySide6.QtCore import QProcess, Qt

from app.config import default_config_path
from storage.alerts import add_rule
from tests.ui.conftest import screenshot
from ui.main_window import ALERT_LEAD_S
from ui.app import HEADLESS_HELP, has_display, run_gui
from ui.training_panel import parse_progress


def test_watchlist_alert_is_listed_with_snapshot_and_jumps_to_replay(qtbot, window, recorded_scene):
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    gallery = window.backend.gallery
    add_rule(gallery.db, "watchlisted person", "watchlist", n_windows=3, of_last=5, min_confidence=0.0)
    ada = next(i for i in gallery.list_identities() if i.name == "Ada")
    gallery.update(ada.id, watchlist=True)
    window.open_source(str(recorded_scene[0]))  # the matcher reads the rules when the run starts
    qtbot.waitUntil(lambda: window.alerts.model.rowCount() > 0, timeout=60_000)
    event = window.alerts.model.events[0]
    assert event.timestamp_s > 0.3  # three windows of Ada first (0.2 s windows, a new one every 0.1 s)
    assert event.identity_name == "Ada" and event.rule == "watchlisted person"
    assert window.alerts.model.index(0, 1).data() == "Ada"
    assert event.snapshot is not None and event.snapshot.ndim == 3
    assert window.replay.timeline.alerts  # a marker on the timeline
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    window.alerts.table.selectRow(0)
    assert window.alerts.snapshot.pixmap() is not None and not window.alerts.snapshot.pixmap().isNull()
    screenshot(window, "alerts")
    qtbot.mouseClick(window.alerts.jump, Qt.MouseButton.LeftButton)
    assert window.controller.paused
    qtbot.waitUntil(lambda: window.view.frame is not None
                    and abs(window.view.frame.timestamp_s - max(event.timestamp_s - ALERT_LEAD_S, 0.0)) < 0.3,
                    timeout=15_000)


def test_training_progress_lines_update_bar_and_curves(qtbot, window):
    panel = window.training
    panel.progress.setRange(0, 3)
    lines = [json.dumps({"epoch": e, "clusters": {"joint": 9, "component": 8, "limb": 7}, "outliers": 3, "kept": 90,
                         "loss": 5.0 - e, "level_loss": {}, "score": 0.1 * e, "best": e == 2, "seconds": 1.5})
             for e in (1, 2)]
    assert parse_progress("2026 INFO reid.train: epoch 1") is None
    for line in lines:
        stats = parse_progress(line)
        panel.history.append(stats)
        panel._show_epoch(stats)
    assert panel.progress.value() == 2 and panel.progress.text().startswith("epoch 2 / 3")
    assert "clusters 9/8/7" in panel.status.text() and "best so far" in panel.status.text()
    xs, ys = panel.loss_line.getData()
    assert list(xs) == [1.0, 2.0] and list(ys) == [4.0, 3.0]
    window.tabs.setCurrentWidget(panel)
    screenshot(window, "training_progress")


def test_failed_training_run_is_reported_and_nothing_promoted(qtbot, window, tmp_path: Path):
    panel = window.training
    model_dir = window.config.pipeline.model_dir
    item = panel.sessions.item(0)
    item.setData(Qt.ItemDataRole.UserRole, str(tmp_path / "no-such-session"))
    item.setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    assert not panel.start.isEnabled()
    qtbot.waitUntil(lambda: panel.process.state() == QProcess.ProcessState.NotRunning, timeout=120_000)
    qtbot.waitUntil(lambda: panel.start.isEnabled(), timeout=10_000)
    assert "stopped (exit code" in (window.errors.last_message or "")
    assert "no-such-session" in window.errors.last_message
    assert not panel.use.isEnabled() and window.config.pipeline.model_dir == model_dir
    window.tabs.setCurrentWidget(panel)
    screenshot(window, "training_failed")


def test_settings_are_saved_to_the_config_file(qtbot, window):
    dialog = window.open_settings()
    qtbot.addWidget(dialog)
    assert dialog.accept_distance.text() == "model's calibrated distance"  # not set: the encoder's own
    dialog.top_k.setValue(7)
    window.replay.loop.setChecked(True)
    dialog.loop.setChecked(False)
    dialog.depth_max.setValue(4.5)
    dialog.save()
    saved = yaml.safe_load(default_config_path().read_text())
    assert saved["ui"]["top_k"] == 7 and saved["ui"]["loop_replay"] is False  # only non-defaults are written
    assert math.isclose(saved["ui"]["depth_max_m"], 4.5)
    assert window.view.depth_max_m == 4.5 and not window.replay.loop.isChecked()
    assert "gallery" not in saved  # an untouched match distance stays the model's
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    dialog = window.open_settings()
    qtbot.addWidget(dialog)
    dialog.accept_distance.setValue(3.5)
    dialog.save()
    assert yaml.safe_load(default_config_path().read_text())["gallery"]["accept_distance"] == 3.5
    assert window.backend.gallery.thresholds.accept_distance == 3.5  # applied to the running matcher


def test_no_display_explains_how_to_run_headless(monkeypatch, capsys, config):
    assert not has_display({})
    assert has_display({"QT_QPA_PLATFORM": "offscreen"})
    assert has_display({"DISPLAY": ":0"})
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert run_gui(config, "demo") == 2
    err = capsys.readouterr().err
    assert "--screenshot" in err and "--exit-after" in err and "QT_QPA_PLATFORM=offscreen" in err
    assert "replay" in err and HEADLESS_HELP.splitlines()[0] in err


def test_screenshot_and_exit(qtbot, qapp, config, recorded_scene, tmp_path: Path):
    target = tmp_path / "shot.png"
    assert run_gui(config, str(recorded_scene[0]), target, exit_after_s=6.0) == 0
    assert target.stat().st_size > 10_000
