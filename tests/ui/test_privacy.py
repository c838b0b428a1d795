"""Skeleton-only privacy mode in the GUI: skeletons over depth only, snapshots are skeleton drawings, a checkbox."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from app.config import load_config
from app.events import FrameResult, TrackView
from ui.alerts_panel import SKETCH_BACKGROUND_BGR, snapshot_of
from ui.live_view import LiveView
from ui.settings_dialog import SettingsDialog

RED = (0, 0, 255)


def frame() -> FrameResult:
    color = np.zeros((120, 160, 3), np.uint8)
    color[:] = RED  # a colour image nothing in privacy mode may show
    depth = np.full((120, 160), 2.5, np.float32)
    keypoints = np.stack([np.linspace(40, 100, 20), np.linspace(20, 100, 20)], 1).astype(np.float32)
    view = TrackView(track_id=3, state="confirmed", joints_3d=np.zeros((20, 3), np.float32),
                     keypoints_2d=keypoints, confidence=np.ones(20, np.float32), age_s=1.0)
    return FrameResult(0, 0.0, color, depth, (view,), 15.0, 0)


def red_pixels(bgr: np.ndarray) -> int:
    return int(np.all(bgr[..., :3] == RED, axis=-1).sum())


def test_live_view_in_privacy_mode_paints_depth_never_colour(qtbot) -> None:
    view = LiveView()
    qtbot.addWidget(view)
    view.show_frame(frame())
    assert red_pixels(view._pixels) > 0  # the colour image by default
    view.privacy = True
    view.show_frame(frame())
    assert red_pixels(view._pixels) == 0 and len(np.unique(view._pixels.reshape(-1, 4), axis=0)) == 1  # flat depth
    view.show_frame(FrameResult(0, 0.0, frame().color, None, (), 15.0, 0))
    assert view._image is None  # no depth: a dark canvas with the skeletons, not the colour image


def test_snapshots_in_privacy_mode_are_skeleton_drawings() -> None:
    crop = snapshot_of(frame(), 3)
    assert crop is not None and red_pixels(crop) == crop.shape[0] * crop.shape[1]
    sketch = snapshot_of(frame(), 3, privacy=True)
    assert sketch is not None and sketch.shape == crop.shape and red_pixels(sketch) == 0
    background = np.all(sketch == SKETCH_BACKGROUND_BGR, axis=-1)
    assert 0.5 < background.mean() < 1.0  # mostly plain, with the bones drawn
    no_colour = FrameResult(0, 0.0, None, frame().depth_m, frame().tracks, 15.0, 0)
    assert snapshot_of(no_colour, 3, privacy=True) is not None and snapshot_of(no_colour, 3) is None


def test_settings_checkbox_turns_privacy_on_in_the_config_file(qtbot, tmp_path: Path) -> None:
    config = load_config()
    dialog = SettingsDialog(config, path=tmp_path / "config.yaml")
    qtbot.addWidget(dialog)
    assert not dialog.privacy.isChecked()
    dialog.privacy.setChecked(True)
    dialog.save()
    assert dialog.config.storage.privacy_skeleton_only is True  # the new config the window applies
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["storage"]["privacy_skeleton_only"] is True
