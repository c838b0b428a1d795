"""The synthetic scene renderer, the scene source and the demo-recording builder."""
from __future__ import annotations

import numpy as np
import pytest

import capture.sources.synthetic as synthetic
from capture.buffer import camera_to_model
from capture.sources import SourceError, open_source
from capture.sources.realsense import RealSensePlayback
from capture.sources.synthetic import SHIRT_COLORS_BGR, SceneRenderer, default_intrinsics, to_camera_frame
from reid.skeleton import CANONICAL_JOINTS
from reid.synthetic import make_identities, scene_tracks, walk

HIP, HEAD = CANONICAL_JOINTS.index("HipCenter"), CANONICAL_JOINTS.index("Head")


@pytest.fixture(scope="module")
def standing():
    """One walker 3 m in front of the camera, in the camera frame (y down)."""
    params = make_identities(1, seed=0)[0]
    joints = walk(params, 0.5, 30.0, (0.0, -1.0, 3.0), np.pi, np.random.default_rng(0))
    return to_camera_frame(joints[0])


def test_floor_and_wall_depth_follow_the_geometry():
    intr = default_intrinsics(160, 120)
    color, depth = SceneRenderer(intr, camera_height_m=1.0, back_wall_z_m=7.5).render([])
    assert depth.dtype == np.float32 and color.dtype == np.uint8 and color.shape == (120, 160, 3)
    v = 119  # bottom row: the floor, 1 m below the camera, at z = h * fy / (v - cy)
    assert depth[v, 80] == pytest.approx(1.0 * intr.fy / (v - intr.cy), rel=1e-5)
    assert depth[0, 80] == pytest.approx(7.5)  # top row: the back wall
    assert np.all(np.isfinite(depth)) and np.all(depth > 0)


def test_a_body_is_drawn_at_its_depth_with_its_shirt(standing):
    intr = default_intrinsics()
    renderer = SceneRenderer(intr)
    color, depth = renderer.render([(1, standing)])
    spine = (standing[HIP] + standing[CANONICAL_JOINTS.index("ShoulderCenter")]) / 2
    u, v = (int(round(intr.fx * spine[0] / spine[2] + intr.cx)), int(round(intr.fy * spine[1] / spine[2] + intr.cy)))
    # The ray through the torso axis meets the torso capsule (radius 0.13 m) in front of the axis.
    assert spine[2] - 0.14 < depth[v, u] < spine[2] - 0.10
    shirt = np.array(SHIRT_COLORS_BGR[1], dtype=np.float64)
    shade = color[v, u] @ shirt / (shirt @ shirt)  # Lambert shading scales the shirt colour by 0.35..1
    assert 0.34 <= shade <= 1.0 and np.abs(color[v, u] - shade * shirt).max() <= 2.0
    head = standing[HEAD]
    hu = int(round(intr.fx * head[0] / head[2] + intr.cx))
    hv = int(round(intr.fy * head[1] / head[2] + intr.cy))
    assert hv < v and depth[hv, hu] == pytest.approx(head[2] - 0.11, abs=0.01)


def test_scene_source_gives_truth_in_the_camera_frame_and_seeks():
    with open_source("synthetic", n_people=3, seconds=2.0, fps=10.0, seed=2) as scene:
        assert scene.has_depth and not scene.is_live and scene.duration_s == pytest.approx(2.0)
        frames = list(scene)
        assert len(frames) == 20 and [f.index for f in frames] == list(range(20))
        scene.seek(1.0)
        assert next(iter(scene)).index == 10
    people = [t for f in frames for t in f.truth]
    assert people and all(t.joints.shape == (20, 3) for t in people)
    assert all(t.joints[HEAD, 1] < t.joints[HIP, 1] for t in people)  # y down: the head is above the hip
    assert all(0.0 < t.joints[HIP, 1] < 1.0 for t in people)  # hips between camera height and the floor
    with pytest.raises(SourceError, match="must both be > 0"):
        open_source("synthetic", seconds=0.0)


def test_build_demo_recording_writes_once_and_plays_with_truth(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path))
    monkeypatch.setattr(synthetic, "DEMO_SECONDS", 1.0)
    monkeypatch.setattr(synthetic, "DEMO_PEOPLE", 2)
    status = synthetic.build_demo_recording()
    target = tmp_path / "demo" / "demo.db3"
    assert "wrote" in status and target.is_file() and (tmp_path / "demo" / "demo.db3.json").is_file()
    assert not list((tmp_path / "demo").glob("*partial*"))
    assert "up to date" in synthetic.build_demo_recording()
    with RealSensePlayback(target) as source:
        frames = list(source)
    assert len(frames) == int(synthetic.DEMO_FPS)
    assert any(f.truth for f in frames)


def test_truth_reaches_the_encoder_convention_unchanged():
    """Without noise, the window buffer's camera_to_model gives back exactly reid.synthetic's joints."""
    room = (-2.0, 2.0, 1.8, 6.0)
    scene = synthetic.SyntheticScene(2, 3.0, 10.0, seed=4, visits=1, truth_noise_m=0.0,
                                      truth_bias_m=0.0, room=room)
    tracks = scene_tracks(2, 3.0, 10.0, room, 4, identities=make_identities(2, 4))
    checked = 0
    for bundle in scene:
        for truth in bundle.truth:
            track = next(t for t in tracks if t.identity == truth.identity)
            want = track.joints[bundle.index - track.start_frame]
            np.testing.assert_allclose(camera_to_model(truth.joints), want, atol=1e-6)
            checked += 1
    assert checked > 10
