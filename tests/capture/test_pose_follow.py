"""Following people with the landmark model alone: region geometry, output decoding, the worker pool, the
config, and bad input (regions off the image, tiny proposals, a frame of another size, a failing worker).

The model tests run the real pose_landmark_full.tflite from the mediapipe wheel through LiteRT on real
vtest.avi frames; the geometry tests use images with known content.
"""
import inspect
import logging
import math

import cv2
import numpy as np
import pytest

from app.config import ConfigError, load_config
from app.config.capture import PoseConfig
from app.compose import estimator_factory
from capture.frames import FrameBundle
from capture.pose import PoseError, PoseEstimator, build_bundle
from capture.pose.bundle import wheel_model_path
from capture.pose.faults import FaultLog
from capture.pose.landmark_model import LandmarkModel, refine_from_heatmap
from capture.pose.pool import LandmarkPool
from capture.pose.proposals import Box, Proposer
from capture.pose.roi import Roi, roi_from_alignment, roi_from_box
from tests.shared_data import VTEST

STILL_MAN = (374.0, 181.0, 404.0, 262.0)  # frame 120 of vtest.avi: a man standing by the sign (hand-labelled)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "pose.task"
    build_bundle(path)
    return path


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} is missing: the shared data folder must hold opencv-vtest (see its PROVENANCE.md)")
    cap = cv2.VideoCapture(str(VTEST))
    out = {}
    for index in range(123):
        ok, image = cap.read()
        assert ok, f"{VTEST}: frame {index} could not be decoded"
        if index >= 118:
            out[index] = image
    cap.release()
    return out


class FixedProposer(Proposer):
    """Proposes the same boxes on every frame (a stand-in for a proposer's output, bad boxes included)."""

    def __init__(self, boxes: list[Box]):
        self.boxes = boxes

    def observe(self, frame: FrameBundle) -> None:
        return None

    def propose(self, frame: FrameBundle) -> list[Box]:
        return list(self.boxes)


# --- geometry --------------------------------------------------------------------------------------------------

def test_region_from_alignment_points_follows_mediapipe():
    upright = roi_from_alignment(np.array([100.0, 200.0]), np.array([100.0, 150.0]))  # head up
    assert (upright.cx, upright.cy, upright.angle) == (100.0, 200.0, 0.0)
    assert upright.side == pytest.approx(2 * 50 * 1.25)
    lying = roi_from_alignment(np.array([100.0, 200.0]), np.array([150.0, 200.0]))  # head to the right
    assert lying.angle == pytest.approx(math.pi / 2)
    # The crop's "up" (normalised y from 0.5 to 0) points from the hips to the head in the image.
    head = lying.to_image(np.array([[0.5, 0.5 - 50 / lying.side]]))[0]
    np.testing.assert_allclose(head, [150.0, 200.0], atol=1e-9)


def test_crop_and_projection_agree_on_a_rotated_region():
    image = np.zeros((300, 400, 3), np.uint8)
    image[120, 250] = 255  # one bright pixel: continuous position (250.5, 120.5)
    roi = Roi(230.0, 140.0, 90.0, math.radians(30))
    crop = roi.crop(image, 256)
    row, col = np.unravel_index(np.argmax(crop[:, :, 0]), crop.shape[:2])
    back = roi.to_image(np.array([[(col + 0.5) / 256, (row + 0.5) / 256]]))[0]
    np.testing.assert_allclose(back, [250.5, 120.5], atol=0.5)
    points = np.random.default_rng(0).uniform(100, 300, (10, 2))
    np.testing.assert_allclose(roi.to_image(roi.to_crop(points, 256) / 256), points, atol=1e-9)


def test_a_region_partly_outside_the_image_repeats_the_border():
    image = np.full((100, 120, 3), 50, np.uint8)
    image[:, :10] = 200  # a bright left border
    crop = Roi(5.0, 50.0, 80.0).crop(image, 256)
    assert crop.shape == (256, 256, 3)
    assert crop[:, :40].min() == 200 and crop[:, -20:].max() == 50  # outside on the left: the border pixels
    assert Roi(5.0, 50.0, 80.0).overlap(120, 100) == pytest.approx(45 / 80)
    assert Roi(-500.0, 50.0, 80.0).overlap(120, 100) == 0.0


def test_heatmap_refinement_moves_confident_points_only():
    heatmap = np.full((64, 64, 39), -30.0)
    heatmap[20, 30, 0] = 10.0  # a confident peak for point 0
    xy = np.full((39, 2), 0.5)
    xy[0] = (31.5 / 64, 21.5 / 64)  # near the peak: pulled onto it
    xy[2] = (1.5, 0.5)  # outside the map: kept
    out = refine_from_heatmap(xy, heatmap)
    np.testing.assert_allclose(out[0], [30 / 64, 20 / 64], atol=1e-6)
    np.testing.assert_allclose(out[1:], xy[1:])  # no confident cell: unchanged


# --- the model -------------------------------------------------------------------------------------------------

def test_landmark_model_finds_a_real_person_and_nobody_in_grey(frames):
    model = LandmarkModel()
    person, presence = model(frames[120], roi_from_box(STILL_MAN, 1.4))
    assert presence > 0.9
    x0, y0, x1, y1 = STILL_MAN
    inside = ((person.keypoints[:, 0] > x0 - 15) & (person.keypoints[:, 0] < x1 + 15)
              & (person.keypoints[:, 1] > y0 - 15) & (person.keypoints[:, 1] < y1 + 15))
    assert inside.mean() > 0.9
    nxt = person.next_roi  # the next frame's region sits on the hips, upright, about 1.4 heights wide
    assert abs(nxt.angle) < 0.3 and y0 < nxt.cy < y1 and 1.0 < nxt.side / (y1 - y0) < 2.0
    assert model(np.full((300, 300, 3), 128, np.uint8), Roi(150, 150, 200))[1] < 0.5
    with pytest.raises(PoseError, match="not MediaPipe's pose landmark model"):
        LandmarkModel(wheel_model_path("pose_detection"))


class Flaky:
    """The real model, except that a pass over a region centred left of x=100 raises (a worker that breaks)."""

    def __init__(self):
        self.model = LandmarkModel()

    def __call__(self, image, roi, keep):
        if roi.cx < 100:
            raise RuntimeError("interpreter crashed")
        return self.model(image, roi, keep)


def test_pool_survives_failing_passes_and_logs_once(frames, caplog):
    faults = FaultLog()
    pool = LandmarkPool(2, faults, make_model=Flaky)
    good = (roi_from_box(STILL_MAN, 1.4), None)
    bad = (Roi(50.0, 200.0, 100.0), None)
    with caplog.at_level(logging.WARNING, logger="capture.pose"):
        results = pool.run(frames[120], [good, bad, good, bad])
    assert [r is None for r in results] == [False, True, False, True]
    assert results[0][1] > 0.9 and faults.counts == {"worker": 2}
    assert sum("landmark pass failed" in r.getMessage() for r in caplog.records) == 1
    assert pool.worker_cpu_s > 0  # the passes on the worker thread are counted
    pool.close()
    assert pool.run(frames[120], [good, good])[1][1] > 0.9  # a closed pool starts again when used
    pool.close()


# --- the estimator on bad input ------------------------------------------------------------------------------

def test_tiny_proposals_and_a_frame_of_another_size_are_handled(bundle, frames):
    proposer = FixedProposer([(10.0, 10.0, 11.0, 11.0), STILL_MAN])  # a 1-pixel proposal and a real person
    with PoseEstimator(bundle, proposer=proposer, propose_every_s=0.0) as estimator:
        first = estimator.estimate(FrameBundle(120, 12.0, frames[120], None, None))
        assert len(first) == 1 and estimator.faults.counts["tiny_region"] == 1
        followed = estimator.estimate(FrameBundle(121, 12.1, frames[121], None, None))
        assert len(followed) == 1 and estimator.last_times.followed == 1
        # A frame of another size: nobody is followed across it, proposals find the man again.
        small = cv2.resize(frames[122], (640, 480))
        proposer.boxes = [tuple(v * 640 / 768 for v in STILL_MAN)]
        again = estimator.estimate(FrameBundle(122, 12.2, small, None, None))
        assert estimator.faults.counts["frame_size"] == 1 and estimator.last_times.followed == 0
        assert len(again) == 1 and again[0].box[2] <= 640
        assert estimator.faults.counts["tiny_region"] == 2  # counted every time, logged once


def test_a_person_at_the_image_border_is_followed(bundle, frames):
    # Cut the frames so that the man stands 24 px from the left edge: his region reaches past the border.
    left = 350
    cut = {i: np.ascontiguousarray(frames[i][:, left:]) for i in (120, 121, 122)}
    box = (STILL_MAN[0] - left, STILL_MAN[1], STILL_MAN[2] - left, STILL_MAN[3])
    with PoseEstimator(bundle, proposer=FixedProposer([box]), propose_every_s=10.0) as estimator:
        assert len(estimator.estimate(FrameBundle(120, 12.0, cut[120], None, None))) == 1
        for index in (121, 122):
            skeletons = estimator.estimate(FrameBundle(index, index / 10, cut[index], None, None))
            assert len(skeletons) == 1 and estimator.last_times.followed == 1, index
            assert skeletons[0].box[0] >= 0.0
        assert estimator.faults.counts["partly_outside"] >= 2


def test_a_failing_landmark_pass_loses_one_frame_of_one_person(bundle, frames, monkeypatch):
    with PoseEstimator(bundle, proposer=FixedProposer([STILL_MAN]), propose_every_s=10.0) as estimator:
        assert len(estimator.estimate(FrameBundle(120, 12.0, frames[120], None, None))) == 1
        real = LandmarkModel.infer
        monkeypatch.setattr(LandmarkModel, "infer", lambda self, crop: (_ for _ in ()).throw(RuntimeError("boom")))
        lost = estimator.estimate(FrameBundle(121, 12.1, frames[121], None, None))
        monkeypatch.setattr(LandmarkModel, "infer", real)
        # The failed passes are counted; the lost person is looked for through the Tasks landmarker at once.
        assert estimator.faults.counts["worker"] == 2 and estimator.last_times.newcomers == 1 and len(lost) == 1
        assert len(estimator.estimate(FrameBundle(122, 12.2, frames[122], None, None))) == 1
        assert estimator.last_times.followed == 1


def test_a_newcomer_costs_one_landmark_pass_and_an_empty_region_is_held(bundle, frames):
    # The standing man is found by the landmark model alone in an upright crop: no person-detector pass. A
    # region of bare floor goes through the Tasks landmarker once, then is not looked at again while it stays
    # put for EMPTY_HOLD_S; a region that moved is a new region.
    from capture.pose.estimator import EMPTY_HOLD_S

    floor = (600.0, 420.0, 640.0, 500.0)
    proposer = FixedProposer([STILL_MAN, floor])
    with PoseEstimator(bundle, proposer=proposer, propose_every_s=0.0) as estimator:
        found = estimator.estimate(FrameBundle(120, 12.0, frames[120], None, None))
        times = estimator.last_times
        assert len(found) == 1 and (times.newcomers, times.detected) == (2, 1)  # the floor only
        estimator.estimate(FrameBundle(121, 12.1, frames[121], None, None))
        assert (estimator.last_times.followed, estimator.last_times.newcomers) == (1, 0)  # floor held
        proposer.boxes = [STILL_MAN, (560.0, 420.0, 600.0, 500.0)]  # moved: looked at again
        estimator.estimate(FrameBundle(122, 12.2, frames[122], None, None))
        assert (estimator.last_times.newcomers, estimator.last_times.detected) == (1, 1)
        proposer.boxes = [floor]
        later = 12.0 + EMPTY_HOLD_S + 0.05  # the first floor region's hold has run out
        estimator.estimate(FrameBundle(123, later, frames[122], None, None))
        assert estimator.last_times.detected == 1


# --- configuration -------------------------------------------------------------------------------------------

def test_pose_config_defaults_are_the_estimators_and_reach_it():
    arguments = inspect.signature(PoseEstimator).parameters
    assert set(PoseConfig.model_fields) <= set(arguments)
    assert {k: v for k, v in PoseConfig().model_dump().items() if arguments[k].default != v} == {}
    config = load_config(overrides=["pose.proposer=motion", "pose.threads=1", "pose.min_presence=0.7"])
    estimator = estimator_factory(config)()
    try:
        assert (estimator.proposer_name, estimator.min_presence) == ("motion", 0.7)
    finally:
        estimator.close()
    with pytest.raises(ConfigError, match="pose.proposer"):
        load_config(overrides=["pose.proposer=hog"])
    with pytest.raises(ConfigError, match="pose.threads"):
        load_config(overrides=["pose.threads=0"])
