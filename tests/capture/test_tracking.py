"""Tracker: filters and names, state durations in seconds, crossings, occlusions, re-acquisition, and an
IDF1 / ID-switch guard on seeded synthetic scenes measured with py-motmetrics."""
from __future__ import annotations

import inspect

import motmetrics as mm
import numpy as np
import pytest

from app.config.capture import TrackingConfig
from capture.buffer import camera_to_model
from capture.frames import Intrinsics, Skeleton3D
from capture.motion import ConstantVelocityFilter
from capture.tracking import DISTANCES, MOTION_FILTERS, Tracker, TrackingError, TrackState
from reid.synthetic import add_sensor_noise, make_identities, scene_tracks

# A rigid body standing and facing the camera, camera frame (x right, y down, z forward), metres: its left
# side on the camera's right (+x), head up (-y), feet pointing at the camera (-z).
TEMPLATE = np.array([
    [0, 0, 0], [0, -0.25, 0], [0, -0.5, 0], [0, -0.7, 0],
    [0.2, -0.48, 0], [0.25, -0.2, 0], [0.27, 0.05, 0], [0.27, 0.12, 0],
    [-0.2, -0.48, 0], [-0.25, -0.2, 0], [-0.27, 0.05, 0], [-0.27, 0.12, 0],
    [0.1, 0.05, 0], [0.1, 0.45, 0], [0.1, 0.85, 0], [0.1, 0.9, -0.1],
    [-0.1, 0.05, 0], [-0.1, 0.45, 0], [-0.1, 0.85, 0], [-0.1, 0.9, -0.1]], dtype=np.float32)


def skel(centre, t: float, index: int, scale: float = 1.0, confidence: float = 1.0) -> Skeleton3D:
    joints = (TEMPLATE * scale + np.asarray(centre, dtype=np.float32)).astype(np.float32)
    return Skeleton3D(joints=joints, confidence=np.full(20, confidence, dtype=np.float32), box=None,
                      timestamp_s=t, frame_index=index, keypoints_2d=None)


def by_id(updates):
    return {u.track_id: u for u in updates}


def test_constant_velocity_filter_learns_speed_and_grows_uncertain():
    rng = np.random.default_rng(0)
    filt = ConstantVelocityFilter(np.zeros(3), 0.0, 0.05, 1.0)
    for i in range(1, 61):
        filt.predict_to(i / 30)
        filt.update(np.array([1.2 * i / 30, 0.0, 3.0 - 0.5 * i / 30]) + rng.normal(0.0, 0.02, 3))
    seen_var = filt.variance
    filt.predict_to(2.5)
    np.testing.assert_allclose(filt.position, [3.0, 0.0, 1.75], atol=0.15)
    assert filt.variance > 4 * seen_var


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(TrackingError, match="constant_velocity"):
        Tracker(motion="particle")
    with pytest.raises(TrackingError, match="mahalanobis"):
        Tracker(distance="cosine")
    with pytest.raises(TrackingError, match="delete_after_s"):
        Tracker(lost_after_s=2.0, delete_after_s=1.0)


def test_config_fields_are_the_tracker_arguments_with_the_same_defaults():
    tracker = Tracker(**TrackingConfig(lost_after_s=0.7).model_dump())
    assert tracker.lost_after_s == 0.7
    arguments = inspect.signature(Tracker).parameters
    assert {k: v for k, v in TrackingConfig().model_dump().items() if arguments[k].default != v} == {}
    with pytest.raises(ValueError, match="delete_after_s"):
        TrackingConfig(lost_after_s=3.0, delete_after_s=2.0)


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_states_change_after_durations_in_seconds(fps):
    tracker = Tracker(confirm_after_s=0.3, lost_after_s=1.0, delete_after_s=3.0)
    states, skeleton_seen = [], []
    for i in range(int(6 * fps)):
        t = i / fps
        dets = [skel([1.0 * t, 0.0, 3.0], t, i)] if t < 2.0 else []
        (upd,) = tracker.update(dets, t) or [None]
        states.append((t, upd.state if upd else None))
        skeleton_seen.append(upd is not None and upd.skeleton is not None)
    first = {state: next(t for t, s in states if s is state) for state in TrackState}
    step = 1.0 / fps
    assert first[TrackState.TENTATIVE] == 0.0
    assert 0.3 <= first[TrackState.CONFIRMED] < 0.3 + step + 1e-9
    last_seen = max(t for t, s in states if t < 2.0)
    assert 1.0 < first[TrackState.LOST] - last_seen <= 1.0 + step + 1e-9
    assert 3.0 < first[TrackState.DELETED] - last_seen <= 3.0 + step + 1e-9
    assert states[-1][1] is None  # deleted tracks are reported once, then gone
    coasting = [t for (t, s), seen in zip(states, skeleton_seen) if s is TrackState.CONFIRMED and not seen]
    assert coasting and min(coasting) > last_seen
    kinds = [e.kind for e in tracker.pop_events()]
    assert kinds == ["created", "confirmed", "lost", "deleted"]
    assert tracker.pop_events() == [] and tracker.tracks == []


@pytest.mark.parametrize("distance", sorted(DISTANCES))
@pytest.mark.parametrize("occluded", [False, True])
def test_crossing_people_keep_their_ids(distance, occluded):
    """Two people walk towards each other 0.3 m apart; with `occluded`, B vanishes for 0.5 s at the crossing."""
    tracker = Tracker(distance=distance)
    fps, owner = 30.0, {}
    for i in range(int(4 * fps)):
        t = i / fps
        a, b = [-2.0 + 1.3 * t, 0.0, 3.0], [2.6 - 1.2 * t, 0.0, 3.3]
        dets = [skel(a, t, i)]
        if not (occluded and 1.7 <= t < 2.2):
            dets.append(skel(b, t, i, scale=1.1))
        for upd in tracker.update(dets, t):
            if upd.skeleton is not None:
                who = "A" if abs(upd.skeleton.joints[0, 0] - a[0]) < 1e-4 else "B"
                owner.setdefault(upd.track_id, set()).add(who)
    assert sorted(map(sorted, owner.values())) == [["A"], ["B"]]


def test_lost_person_is_reacquired_by_position():
    tracker = Tracker(lost_after_s=0.5)
    fps = 30.0
    for i in range(int(5 * fps)):
        t = i / fps
        visible = not (1.0 <= t < 2.5)
        tracker.update([skel([-2.0 + 1.0 * t, 0.0, 3.0], t, i)] if visible else [], t)
    events = tracker.pop_events()
    kinds = [e.kind for e in events]
    assert kinds == ["created", "confirmed", "lost", "created", "reacquired"]
    reacquired = events[-1]
    assert (reacquired.track_id, reacquired.other_id) == (1, 2)
    (track,) = tracker.tracks
    assert track.track_id == 1 and track.state is TrackState.CONFIRMED
    times = [t for t, _ in track.history]
    assert times[0] == 0.0 and max(np.diff(times)) > 1.4  # both visits, the gap between them


def test_someone_else_appearing_near_a_lost_track_gets_a_new_id():
    tracker = Tracker(lost_after_s=0.5)
    fps = 30.0
    for i in range(int(4 * fps)):
        t = i / fps
        if t < 1.0:
            dets = [skel([-2.0 + 1.0 * t, 0.0, 3.0], t, i)]  # walks right, then leaves
        elif t >= 2.0:
            dets = [skel([-2.0, 0.0, 3.0 + 0.5 * (t - 2.0)], t, i)]  # someone enters 2 m behind the prediction
        else:
            dets = []
        tracker.update(dets, t)
    assert [e.kind for e in tracker.pop_events()] == ["created", "confirmed", "lost", "created", "confirmed"]
    assert sorted(tr.track_id for tr in tracker.tracks) == [1, 2]


def _side_by_side_then_swapped(tracker, embeddings, fps=30.0):
    """Two people walk side by side, vanish 1.5 s, and come back with their sides swapped, so that position
    alone points each to the other's lost track. Returns {person: track ids it was reported under}."""
    seen: dict[str, set[int]] = {"A": set(), "B": set()}
    for i in range(int(4 * fps)):
        t = i / fps
        x = -1.5 + 1.0 * t
        if t < 1.0:
            people = {"A": [x, 0.0, 3.0], "B": [x, 0.0, 3.8]}
        elif t >= 2.5:
            people = {"A": [x, 0.0, 3.8], "B": [x, 0.0, 3.0]}
        else:
            people = {}
        names = list(people)
        updates = tracker.update([skel(people[n], t, i) for n in names], t)
        for upd in updates:
            if upd.skeleton is not None:
                who = next(n for n in names if abs(upd.skeleton.joints[0, 2] - people[n][2]) < 1e-4)
                seen[who].add(upd.track_id)
                if embeddings is not None:
                    tracker.set_embedding(upd.track_id, embeddings[who])
    return seen


def test_embedding_decides_which_lost_track_comes_back():
    rng = np.random.default_rng(3)
    embeddings = {"A": rng.normal(size=16), "B": rng.normal(size=16)}
    tracker = Tracker(lost_after_s=0.5, reacquire_margin_m=1.5, max_embedding_distance=1.0)
    seen = _side_by_side_then_swapped(tracker, embeddings)
    final = {tr.track_id for tr in tracker.tracks}
    assert final == {1, 2}
    assert seen["A"] & final == {1} and seen["B"] & final == {2}
    assert sorted((e.track_id, e.other_id) for e in tracker.pop_events() if e.kind == "reacquired") == [(1, 3), (2, 4)]


def test_without_embeddings_position_decides():
    """The same scene without embeddings: position picks the nearer lost track, i.e. swaps them."""
    tracker = Tracker(lost_after_s=0.5, reacquire_margin_m=1.5)
    seen = _side_by_side_then_swapped(tracker, None)
    assert {1, 2} <= seen["A"] and {1, 2} <= seen["B"]


def test_a_new_track_waits_for_its_embedding_then_late_embeddings_follow_the_merge():
    tracker = Tracker(lost_after_s=0.5, confirm_after_s=0.3, embedding_wait_s=0.5, max_embedding_distance=1.0)
    fps = 30.0
    for i in range(int(4 * fps)):
        t = i / fps
        visible = not (1.0 <= t < 2.0)
        tracker.update([skel([-1.0 + 1.0 * t, 0.0, 3.0], t, i)] if visible else [], t)
        if i == 5:
            tracker.set_embedding(1, np.ones(8))
    events = tracker.pop_events()
    (back,) = [e for e in events if e.kind == "reacquired"]
    assert back.timestamp_s >= 2.0 + 0.3 + 0.5 - 1e-9  # no embedding came: position decided after the wait
    assert tracker.set_embedding(back.other_id, np.arange(8.0)) == 1  # a late embedding of the merged id
    np.testing.assert_allclose(tracker.tracks[0].embedding, np.arange(8.0))


def test_a_far_embedding_makes_a_new_person():
    rng = np.random.default_rng(4)
    tracker = Tracker(lost_after_s=0.5, max_embedding_distance=1.0)
    fps = 30.0
    for i in range(int(3.5 * fps)):
        t = i / fps
        visible = not (1.0 <= t < 2.0)
        updates = tracker.update([skel([-1.0 + 1.0 * t, 0.0, 3.0], t, i)] if visible else [], t)
        for upd in updates:
            if upd.skeleton is not None:
                tracker.set_embedding(upd.track_id, rng.normal(size=16) if t >= 2.0 else np.ones(16))
    assert [e.kind for e in tracker.pop_events()] == ["created", "confirmed", "lost", "created", "confirmed"]


def test_near_parallel_embeddings_of_two_people_are_told_apart_by_distance():
    """The encoder's embeddings of any two people point almost the same way (cosine distance ~0.005 on the demo's
    walkers); the gallery tells them apart by Euclidean distance, and so does the tracker: a newcomer entering
    where someone left is not joined to that person's lost track unless the distance says it is them."""
    rng = np.random.default_rng(5)
    common = np.full(64, 3.0)
    first, newcomer = common + rng.normal(0.0, 1.0, 64), common + rng.normal(0.0, 1.0, 64)
    cosine = 1.0 - first @ newcomer / np.linalg.norm(first) / np.linalg.norm(newcomer)
    assert cosine < 0.2 and np.linalg.norm(first - newcomer) > 8.0
    for vectors, kinds in (((first, newcomer), ["created", "confirmed", "lost", "created", "confirmed"]),
                           ((first, first + 0.1), ["created", "confirmed", "lost", "created", "reacquired"])):
        tracker = Tracker(lost_after_s=0.5, max_embedding_distance=6.0)
        for i in range(int(3.5 * 30)):
            t = i / 30.0
            visible = not (1.0 <= t < 2.0)
            for upd in tracker.update([skel([-1.0 + 1.0 * t, 0.0, 3.0], t, i)] if visible else [], t):
                if upd.skeleton is not None:
                    tracker.set_embedding(upd.track_id, vectors[int(t >= 2.0)])
        assert [e.kind for e in tracker.pop_events()] == kinds


def test_bad_input_is_refused():
    tracker = Tracker()
    tracker.update([skel([0.0, 0.0, 3.0], 1.0, 30)], 1.0)
    with pytest.raises(TrackingError, match="before the previous"):
        tracker.update([], 0.5)
    with pytest.raises(TrackingError, match="not a finite"):
        tracker.update([], float("nan"))
    with pytest.raises(TrackingError, match="never given out"):
        tracker.set_embedding(99, np.ones(4))
    with pytest.raises(TrackingError, match="not finite"):
        tracker.set_embedding(1, np.array([np.nan, 1.0]))
    assert tracker.update([skel([1.0, 0.0, 3.0], 1.1, 33, confidence=0.0)], 1.1)[0].skeleton is None


def run_scene(seed: int, n_people: int = 12, seconds: float = 30.0, fps: float = 30.0, miss_rate: float = 0.05,
              gap_s: float = 0.5, room=(-3.0, 3.0, 1.0, 8.0), embedding_noise: float | None = None,
              **tracker_args) -> dict[str, float]:
    """A seeded synthetic room: people enter, cross and leave; sensor noise, 5% missed detections and one
    `gap_s` occlusion per person. Scored on visible people against confirmed tracks with an assigned skeleton,
    matched within 0.5 m on the floor. With `embedding_noise`, every assigned track gets its person's
    embedding (a fixed random unit vector per person plus that much noise), standing in for the encoder."""
    rng = np.random.default_rng([seed, 7])
    people = []
    for k, track in enumerate(scene_tracks(n_people, seconds, fps, room=room, seed=seed,
                                           identities=make_identities(n_people, seed))):
        noisy = add_sensor_noise(track.joints, rng, noise_m=0.02, drop_rate=0.0, frame_drop_rate=0.0)
        noisy = camera_to_model(noisy)  # Kinect frame -> camera frame: the half turn is its own inverse
        visible = rng.random(len(noisy)) >= miss_rate
        start = int(rng.integers(0, max(1, len(noisy) - int(gap_s * fps))))
        visible[start : start + int(gap_s * fps)] = False
        people.append((k, track.start_frame, noisy, visible))
    identity_vectors = rng.normal(size=(len(people), 32)) / np.sqrt(32)
    tracker = Tracker(**tracker_args)
    acc = mm.MOTAccumulator(auto_id=True)
    for frame in range(int(seconds * fps)):
        t = frame / fps
        dets, truth_ids, truth_xz = [], [], []
        for k, start, joints, visible in people:
            i = frame - start
            if 0 <= i < len(joints) and visible[i]:
                dets.append(Skeleton3D(joints=joints[i], confidence=np.ones(20, np.float32), box=None,
                                       timestamp_s=t, frame_index=frame, keypoints_2d=None))
                truth_ids.append(k)
                truth_xz.append(joints[i, 0, [0, 2]])
        updates = tracker.update(dets, t)
        if embedding_noise is not None:
            person = {id(d): k for d, k in zip(dets, truth_ids)}
            for u in updates:
                if u.skeleton is not None:
                    noise = rng.normal(0.0, embedding_noise / np.sqrt(32), 32)
                    tracker.set_embedding(u.track_id, identity_vectors[person[id(u.skeleton)]] + noise)
        hyp = [u for u in updates if u.state is TrackState.CONFIRMED and u.skeleton is not None]
        dist = mm.distances.norm2squared_matrix(np.reshape(truth_xz, (-1, 2)),
                                                np.reshape([u.centre[[0, 2]] for u in hyp], (-1, 2)), max_d2=0.25)
        acc.update(truth_ids, [u.track_id for u in hyp], dist)
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches", "num_transfer", "mota",
                                                              "num_objects"])
    return {k: float(v) for k, v in summary.iloc[0].items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_idf1_guard_on_seeded_scenes(seed):
    figures = run_scene(seed)
    print(f"seed {seed}: IDF1 {figures['idf1']:.3f}, ID switches {figures['num_switches']:.0f}, "
          f"transfers {figures['num_transfer']:.0f}, MOTA {figures['mota']:.3f}, "
          f"{figures['num_objects']:.0f} visible person-frames")
    assert figures["num_objects"] > 1000
    assert figures["idf1"] >= 0.9
    assert figures["num_switches"] + figures["num_transfer"] <= 1


def test_motion_model_matters_on_a_crowded_scene():
    """The constant-velocity filter beats the static baseline on a dense scene (16 people in 20 s)."""
    figures = {name: run_scene(2, n_people=16, seconds=20.0, motion=name) for name in MOTION_FILTERS}
    for name, fig in figures.items():
        print(f"{name}: IDF1 {fig['idf1']:.3f}, ID switches {fig['num_switches']:.0f}, "
              f"transfers {fig['num_transfer']:.0f}")
    assert figures["constant_velocity"]["idf1"] >= 0.85
    assert figures["constant_velocity"]["idf1"] > figures["static"]["idf1"]


def test_embeddings_steer_reacquisition_after_long_occlusions():
    """1.5 s occlusions: every hidden person is lost; embeddings (noisy per-person vectors) pick who comes back."""
    plain = run_scene(3, gap_s=1.5)
    helped = run_scene(3, gap_s=1.5, embedding_noise=0.3, max_embedding_distance=0.8)
    for name, fig in (("position only", plain), ("with embeddings", helped)):
        print(f"{name}: IDF1 {fig['idf1']:.3f}, ID switches {fig['num_switches']:.0f}, "
              f"transfers {fig['num_transfer']:.0f}")
    assert helped["num_switches"] + helped["num_transfer"] == 0
    assert helped["idf1"] >= plain["idf1"] + 0.01


def run_image_scene(seed: int, n_people: int = 12, seconds: float = 30.0, fps: float = 10.0,
                    depth_jitter: float = 0.25, metric: bool = False, **tracker_args) -> dict[str, float]:
    """The synthetic room filmed by a colour-only camera: each skeleton's depth is a guess (off by up to
    `depth_jitter` of itself, fresh every frame, as a height-based lift is when legs are cut or an arm hides the
    head), its image box is exact. Scored in the image against the true boxes (IoU >= 0.5)."""
    rng = np.random.default_rng([seed, 11])
    intr = Intrinsics.from_hfov(640, 480, 70.0)
    step = int(round(30.0 / fps))
    people = [(k, track.start_frame, camera_to_model(track.joints))
              for k, track in enumerate(scene_tracks(n_people, seconds, 30.0, room=(-2.0, 2.0, 5.0, 10.0), seed=seed,
                                                     identities=make_identities(n_people, seed)))]
    tracker = Tracker(**tracker_args)
    acc = mm.MOTAccumulator(auto_id=True)
    for frame in range(0, int(seconds * 30.0), step):
        t = frame / 30.0
        dets, truth_ids, truth_boxes = [], [], []
        for k, start, joints in people:
            i = frame - start
            if not 0 <= i < len(joints) or rng.random() < 0.05:
                continue
            px = intr.project(joints[i])
            box = (*px.min(axis=0), *px.max(axis=0))
            if box[0] < 0 or box[2] >= 640 or not np.isfinite(box).all():
                continue
            guessed = joints[i] * np.float32(1.0 + rng.uniform(-depth_jitter, depth_jitter))  # along the ray
            dets.append(Skeleton3D(joints=guessed, confidence=np.ones(20, np.float32), box=box, timestamp_s=t,
                                   frame_index=frame // step))
            truth_ids.append(k)
            truth_boxes.append((box[0], box[1], box[2] - box[0], box[3] - box[1]))
        updates = tracker.update(dets, t, metric=metric)
        hyp = [u for u in updates if u.state is TrackState.CONFIRMED and u.skeleton is not None]
        hyp_boxes = [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in (u.skeleton.box for u in hyp)]
        acc.update(truth_ids, [u.track_id for u in hyp],
                   mm.distances.iou_matrix(np.reshape(truth_boxes, (-1, 4)), np.reshape(hyp_boxes, (-1, 4)),
                                           max_iou=0.5))
    summary = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches", "mota", "num_fragmentations",
                                                              "num_objects"])
    return {k: float(v) for k, v in summary.iloc[0].items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_colour_only_scenes_track_in_the_image(seed):
    """Without depth the 3D gates refuse most true matches (new ids all the time); the image keeps them."""
    image, metric = run_image_scene(seed), run_image_scene(seed, metric=True)
    for name, fig in (("image", image), ("3D gates", metric)):
        print(f"seed {seed} {name}: IDF1 {fig['idf1']:.3f}, MOTA {fig['mota']:.3f}, switches "
              f"{fig['num_switches']:.0f}, fragmentations {fig['num_fragmentations']:.0f}, {fig['num_objects']:.0f}")
    assert image["num_objects"] > 300
    assert image["idf1"] > metric["idf1"] + 0.3 and image["mota"] > metric["mota"] + 0.5
    # measured 0.61-0.73 / 0.91-0.94: what IDF1 loses here is an id handed on to someone who appears where a
    # person vanished a moment before (these synthetic people start and end mid-room), not switches
    assert image["idf1"] >= 0.6 and image["mota"] >= 0.9
    assert image["num_switches"] <= 10
