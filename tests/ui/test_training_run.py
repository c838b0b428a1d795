"""A real training run from the panel: record a session, train on it in a QProcess, use the model."""
from __future__ import annotations

import yaml
from PySide6.QtCore import Qt

from app.config import default_config_path
from tests.ui.conftest import screenshot


def test_record_train_and_use_the_model(qtbot, window):
    qtbot.waitUntil(lambda: window.view.frame is not None and window.recorder.isEnabled(), timeout=60_000)
    window.seek(0.0, paused=False)
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.recorder.folder is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.controller.at_end, timeout=60_000)  # the whole 6 s recording
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.recorder.folder is None, timeout=30_000)
    session = window.recorder.last_folder

    panel = window.training
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    qtbot.mouseClick(panel.rescan, Qt.MouseButton.LeftButton)
    assert panel.sessions.count() == 2 and panel.sessions.item(1).text() == session.name
    assert panel.chosen_data() == [str(session)]  # recorded sessions are ticked, the synthetic walkers not
    panel.epochs.setValue(2)
    panel.batch.setValue(8)
    panel.eval_data.clear()
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.use.isEnabled() or panel.start.isEnabled(), timeout=180_000)
    assert panel.use.isEnabled(), window.errors.last_message
    assert [s["epoch"] for s in panel.history] == [1, 2]
    assert panel.progress.text() == "done: 2 epochs"
    xs, _ = panel.score_line.getData()
    assert list(xs) == [1.0, 2.0]
    screenshot(window, "training_done")

    qtbot.mouseClick(panel.use, Qt.MouseButton.LeftButton)
    best = panel.run_dir / "best"
    assert window.config.pipeline.model_dir == str(best)
    assert yaml.safe_load(default_config_path().read_text())["pipeline"]["model_dir"] == str(best)
    qtbot.waitUntil(lambda: window.backend is not None and window.backend.model_version != "untrained",
                    timeout=60_000)
    # Enrolled with the old model: after the reload every identity shows its windows as stale until re-enrolled.
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 2
                    and all(r.stale_embeddings == r.embeddings > 0 for r in window.gallery.model.rows), timeout=30_000)
    assert "stale" in window.gallery.model.index(0, 2).data()
    screenshot(window, "model_promoted")
