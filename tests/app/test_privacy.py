"""Skeleton-only privacy mode: a recording keeps depth, skeletons and tracks, and no colour image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.config import load_config
from app.session import SessionRecorder, load_skeleton_cache, read_manifest
from capture.frames import Skeleton3D
from capture.sources.realsense import RealSensePlayback
from capture.sources.synthetic import SyntheticScene


def test_privacy_mode_is_off_by_default_and_set_by_its_key() -> None:
    assert load_config().storage.privacy_skeleton_only is False
    assert load_config(None, ["storage.privacy_skeleton_only=true"]).storage.privacy_skeleton_only is True


@pytest.mark.parametrize("keep_color", [True, False])
def test_a_privacy_recording_keeps_depth_and_skeletons_but_no_colour(tmp_path: Path, keep_color: bool) -> None:
    scene = SyntheticScene(1, 0.6, 15.0, seed=1, width=80, height=60, room=(-1.0, 1.0, 2.0, 3.0))
    recorder = SessionRecorder.create(tmp_path / "s", scene, "synthetic", keep_color=keep_color)
    rendered = list(scene)
    for bundle in rendered:
        skeletons = [Skeleton3D(t.joints, np.ones(20, np.float32), None, bundle.timestamp_s, bundle.index)
                     for t in bundle.truth]
        recorder.record(bundle, skeletons, [(1, "confirmed", s.joints) for s in skeletons])
    manifest = recorder.close()
    assert manifest.color_recorded is keep_color and read_manifest(tmp_path / "s").color_recorded is keep_color
    assert any(b.color.any() for b in rendered) and any(b.truth for b in rendered)  # colour to lose, people
    played = list(RealSensePlayback(tmp_path / "s" / "recording.db3"))
    assert len(played) == len(rendered)
    assert all(f.depth_m is not None for f in played) and any((f.depth_m > 0).any() for f in played)
    assert any(f.color.any() for f in played) is keep_color
    assert sum(len(v) for v in load_skeleton_cache(tmp_path / "s").values()) == sum(len(b.truth) for b in rendered)
