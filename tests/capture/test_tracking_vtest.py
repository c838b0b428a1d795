"""Real footage guard: the tracker and window buffer on the skeletons pose made of OpenCV's vtest.avi (stored,
tests/data/vtest_tracks), scored against the hand-labelled person boxes of tests/data/vtest_people.json; plus
the bad input a real clip brings (empty frames, people cut by the border, NaN joints)."""
from __future__ import annotations

import numpy as np
import pytest

from capture.frames import Skeleton3D
from capture.tracking import Tracker
from tests.capture import vtest_data


# Stored floors, a little under what was measured (see the test's printout and the README's tracking rows).
# IDF1 is scored per labelled sequence (frames 1-301 and 351-491): measured 0.809 with the clothing veto on the
# corrected labels (0.795 without it; PROVENANCE.md: 0.717 before the men by the sign were told apart and
# drifting interpolated boxes took pose's box, 0.670 before the first corrections, 0.587 scored as one sequence).
IDF1_FLOOR, MOTA_FLOOR, SWITCHES_CEILING, FRAGMENTATIONS_CEILING = 0.79, 0.69, 39, 87


@pytest.fixture(scope="module")
def clip():
    return vtest_data.load()


def test_one_track_per_person_and_windows_from_every_walker(clip):
    tracker, buffer, boxes, windows = vtest_data.track_clip(clip)
    confirmed = {i for frame in boxes.values() for i in frame}
    tracked, in_window, people = vtest_data.hand_label_coverage(boxes, windows)
    s, b = tracker.stats, buffer.stats
    print(f"{len(clip)} frames: {len(confirmed)} confirmed tracks, {len(windows)} windows; hand-labelled people "
          f"tracked {tracked:.3f}, in a window {in_window:.3f} (of {people}); {s.births} births, "
          f"{s.reacquisitions} reacquisitions")
    # Stored floors (measured: 29 confirmed tracks, 4101 windows, 0.884 / 0.884); before the image association
    # the same skeletons gave 525 confirmed tracks and 120 windows (see the metric run below).
    assert len(confirmed) <= 31
    assert len(windows) >= 3900
    assert tracked >= 0.85 and in_window >= 0.85
    assert s.frames == len(clip) == 795 and s.image_frames > 780
    assert s.skeletons == sum(len(sk) for _, _, sk in clip)
    # every skeleton accounted for: assigned, unusable, a refused duplicate, or a low-score one nobody took
    assert s.to_confirmed + s.to_tentative + s.unusable + s.births_refused + s.low_unassigned == s.skeletons
    assert b.windows == len(windows) and b.frames_filled > 0 and b.joints_filled > 0


def test_the_labelled_sequences_are_scored_apart(tmp_path):
    # One person labelled 1 in frames 1-3 and 101 in frames 6-8 (the labeller could not link them across the
    # unlabelled gap), followed by one track throughout: right in each sequence, so IDF1 1 (0.5 scored as one).
    rows = [f"{f},{1 if f <= 3 else 101},10,10,20,40,1,-1,-1,-1" for f in (1, 2, 3, 6, 7, 8)]
    truth = tmp_path / "gt.txt"
    truth.write_text("\n".join(rows) + "\n")
    one_track = {f - 1: {7: (10.0, 10.0, 30.0, 50.0)} for f in (1, 2, 3, 6, 7, 8)}
    assert vtest_data.mot_scores(one_track, truth)["idf1"] == pytest.approx(1.0)
    two_people = {f - 1: {7 if f <= 3 else 8: (10.0, 10.0, 30.0, 50.0)} for f in (1, 2, 3, 6, 7, 8)}
    assert vtest_data.mot_scores(two_people, truth)["idf1"] == pytest.approx(1.0)
    swapped = {f - 1: {7 if f != 2 else 8: (10.0, 10.0, 30.0, 50.0)} for f in (1, 2, 3, 6, 7, 8)}
    assert vtest_data.mot_scores(swapped, truth)["idf1"] < 0.9


def test_mot_scores_on_the_labelled_tracks(clip):
    """IDF1, MOTA, ID switches, fragmentations against tests/data/vtest_tracks/gt.txt (442 labelled frames, 18
    people; PROVENANCE.md there says how the labels were made, without the tracker)."""
    _, _, boxes, _ = vtest_data.track_clip(clip)
    image = vtest_data.mot_scores(boxes)
    _, _, boxes, _ = vtest_data.track_clip(clip, metric=True)
    metric = vtest_data.mot_scores(boxes)
    for name, fig in (("image", image), ("3D gates", metric)):
        print(f"{name}: IDF1 {fig['idf1']:.3f}, MOTA {fig['mota']:.3f}, switches {fig['num_switches']:.0f}, "
              f"fragmentations {fig['num_fragmentations']:.0f}, recall {fig['recall']:.3f}")
    assert image["num_objects"] == 2303
    assert image["idf1"] >= IDF1_FLOOR and image["mota"] >= MOTA_FLOOR
    assert image["num_switches"] <= SWITCHES_CEILING and image["num_fragmentations"] <= FRAGMENTATIONS_CEILING
    assert metric["idf1"] < 0.2  # the 3D gates on height-lifted skeletons: what the issue reported
    _, _, boxes, windows = vtest_data.track_clip(clip)
    assert vtest_data.labelled_in_window(boxes, windows) >= 0.78  # measured 0.804 (target: 60 %)


def test_without_the_image_association_real_footage_falls_apart(clip):
    _, _, boxes, windows = vtest_data.track_clip(clip, metric=True)
    _, _, image_boxes, image_windows = vtest_data.track_clip(clip)
    assert len({i for frame in boxes.values() for i in frame}) > 300  # measured 500
    assert len(windows) < 0.7 * len(image_windows)


def test_bad_input_is_counted_not_crashed():
    tracker = Tracker()
    conf = np.ones(20, np.float32)
    joints = np.random.default_rng(0).normal(0, 0.3, (20, 3)).astype(np.float32) + np.float32([0, 0, 5])
    nan = np.full((20, 3), np.nan, np.float32)
    edge = (-40.0, 100.0, 15.0, 260.0)  # half outside the frame: the box is clipped by pose, still a person
    for i in range(10):
        skeletons = [] if i == 3 else [Skeleton3D(joints=joints, confidence=conf, box=edge, timestamp_s=i / 10,
                                                  frame_index=i),
                                       Skeleton3D(joints=nan, confidence=conf, box=None, timestamp_s=i / 10,
                                                  frame_index=i)]
        tracker.update(skeletons, i / 10, metric=False)
    assert tracker.stats.unusable == 9 and tracker.stats.frames == 10
    assert [t.track_id for t in tracker.tracks] == [1] and tracker.stats.confirmations == 1
