"""Synthetic walkers: determinism, human-like kinematics, identity cues and the scene generator."""

import numpy as np
import pytest

from reid.datasets import load_dataset
from reid.datasets.ucalgary import read_positions
from reid.errors import DatasetError
from reid.skeleton import CANONICAL_JOINTS, root_centre, to_canonical
from reid.synthetic import (DEFAULT_CAMERA_HEIGHT_M, add_sensor_noise, limping, make_dataset, make_identities,
                            scene_tracks, walk)
from tests.shared_data import shared_path

J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
BONES = [("HipCenter", "Spine"), ("Spine", "ShoulderCenter"), ("ShoulderCenter", "Head"),
         ("ShoulderLeft", "ElbowLeft"), ("ElbowLeft", "WristLeft"), ("ShoulderRight", "ElbowRight"),
         ("ElbowRight", "WristRight"), ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"),
         ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"), ("ShoulderLeft", "ShoulderRight"),
         ("HipLeft", "HipRight")]
FLOOR = -DEFAULT_CAMERA_HEIGHT_M
UCALGARY_RUN = shared_path("ucalgary-gait", "frontview", "sub1", "Run1")


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(T, 20, 3) -> (T, B) metres."""
    return np.stack([np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=-1) for a, b in BONES], axis=-1)


def towards_camera(params, seconds=4.0, seed=0):
    return walk(params, seconds, 30.0, (0.0, FLOOR, 6.0), np.pi, np.random.default_rng(seed))


def test_identities_are_deterministic_and_distinct():
    a, b = make_identities(8, seed=4), make_identities(8, seed=4)
    assert a == b
    assert make_identities(8, seed=5) != a
    assert len({p.identity for p in a}) == 8
    heights = [p.height_m for p in a]
    assert 1.5 <= min(heights) and max(heights) <= 1.95 and np.std(heights) > 0.03
    with pytest.raises(DatasetError, match="n=0"):
        make_identities(0)


def test_dataset_is_deterministic_for_a_seed():
    a = make_dataset(4, 3, frames=40, seed=7)
    b = make_dataset(4, 3, frames=40, seed=7)
    c = make_dataset(4, 3, frames=40, seed=8)
    assert [s.name for s in a.sequences] == [s.name for s in b.sequences]
    for x, y in zip(a.sequences, b.sequences):
        np.testing.assert_array_equal(x.joints, y.joints)
    assert not np.allclose(a.sequences[0].joints[:10], c.sequences[0].joints[:10])


def test_walk_shape_floor_and_travel():
    params = make_identities(1, seed=0)[0]
    joints = towards_camera(params)
    assert joints.shape == (120, 20, 3) and joints.dtype == np.float32
    # The lowest foot point touches the floor in every frame; nothing goes below it.
    ankles_feet = joints[:, [J["AnkleLeft"], J["AnkleRight"], J["FootLeft"], J["FootRight"]], 1]
    assert ankles_feet.min() >= FLOOR - 1e-4
    assert np.all(ankles_feet.min(axis=1) - FLOOR < 0.08)
    # Head above shoulders above hips above knees, every frame.
    y = joints[..., 1]
    assert np.all(y[:, J["Head"]] > y[:, J["ShoulderCenter"]])
    assert np.all(y[:, J["ShoulderCenter"]] > y[:, J["HipCenter"]])
    assert np.all(y[:, J["HipCenter"]] > y[:, J["KneeLeft"]])
    head_height = y[:, J["Head"]].max() - FLOOR
    assert 0.8 * params.height_m < head_height < params.height_m
    # Walking towards the camera (-z) at about the nominal speed.
    travelled = joints[0, 0, 2] - joints[-1, 0, 2]
    assert travelled == pytest.approx(params.speed_mps * 4.0, rel=0.15)
    assert 0.9 < params.speed_mps < 1.9
    # Kinect camera space (x towards the camera's left): facing the camera, ShoulderLeft.x < ShoulderRight.x.
    assert np.all(joints[:, J["ShoulderLeft"], 0] < joints[:, J["ShoulderRight"], 0])


def chirality(joints: np.ndarray) -> np.ndarray:
    """(T,) sign of (ShoulderLeft - ShoulderRight) . (up x walking direction): +1 for a real body in a
    right-handed frame, -1 for a mirrored one."""
    up = joints[:, J["Head"]] - joints[:, J["HipCenter"]]
    forward = np.gradient(joints[:, J["HipCenter"]], axis=0)
    side = joints[:, J["ShoulderLeft"]] - joints[:, J["ShoulderRight"]]
    return np.sign(np.einsum("td,td->t", side, np.cross(up, forward)))


def test_walkers_have_the_handedness_of_kinect_data():
    # A real person walking towards a Kinect v2.
    kinect = to_canonical(read_positions(next(UCALGARY_RUN.glob("*GeometricPositions*.csv"))), "ucalgary18")
    assert np.mean(chirality(kinect) > 0) > 0.9
    params = make_identities(1, seed=3)[0]
    for heading in (0.0, 0.7, np.pi / 2, np.pi, -2.5):
        joints = walk(params, 2.0, 30.0, (0.0, FLOOR, 3.0), heading, np.random.default_rng(0))
        assert (chirality(joints) > 0).all(), heading


def test_walk_looks_like_walking():
    params = make_identities(1, seed=1)[0]
    joints = towards_camera(params, seconds=6.0)
    fwd = np.array([0.0, 0.0, -1.0])
    hip = joints[:, 0]
    # Vertical bob of a few centimetres.
    assert 0.02 < np.ptp(hip[:, 1]) < 0.12
    # Legs alternate: the left ankle's lead over the right swings sign with the step frequency.
    lead = (joints[:, J["AnkleLeft"]] - joints[:, J["AnkleRight"]]) @ fwd
    crossings = np.count_nonzero(np.diff(np.sign(lead)) != 0)
    assert crossings == pytest.approx(6.0 * params.cadence_hz, abs=3)
    assert np.ptp(lead) > 0.8 * params.step_frac * params.leg_length_m
    # Knee flexes strongly in swing and is nearly straight at some point in stance.
    thigh = joints[:, J["KneeLeft"]] - joints[:, J["HipLeft"]]
    shank = joints[:, J["AnkleLeft"]] - joints[:, J["KneeLeft"]]
    cos = (thigh * shank).sum(1) / np.linalg.norm(thigh, axis=1) / np.linalg.norm(shank, axis=1)
    knee = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert knee.max() > 45 and knee.min() < 10
    # Arms counter-swing: the left wrist leads when the left ankle trails.
    wrist_lead = (joints[:, J["WristLeft"]] - hip) @ fwd
    ankle_lead = (joints[:, J["AnkleLeft"]] - hip) @ fwd
    assert np.corrcoef(wrist_lead, ankle_lead)[0, 1] < -0.5
    # The stance foot stays planted: the slower ankle moves far slower than the body.
    speed = np.linalg.norm(np.diff(joints[:, [J["AnkleLeft"], J["AnkleRight"]]], axis=0), axis=-1) * 30.0
    assert np.median(speed.min(axis=1)) < 0.2 * params.speed_mps


def test_bone_lengths_constant_per_identity_and_distinct_across():
    people = make_identities(6, seed=2)
    means = []
    for k, params in enumerate(people):
        bones = bone_lengths(towards_camera(params, seed=k))
        assert bones.std(axis=0).max() < 1e-3  # rigid bones within float precision
        means.append(bones.mean(axis=0))
    means = np.array(means)
    for i in range(len(people)):
        for j in range(i + 1, len(people)):
            assert np.abs(means[i] - means[j]).max() > 0.01


def test_noisy_dataset_keeps_identity_cues_but_naive_matching_is_not_perfect():
    ds = make_dataset(10, 4, frames=60, seed=0)
    ps = ds.probe_set("normal")
    assert len(ds.sequences) == 40 and len(ps.probe) == 20 and len(ps.gallery) == 20
    assert set(ps.probe).isdisjoint(ps.gallery) and ds.train == tuple(range(40))
    labels = np.array([s.identity for s in ds.sequences])
    bones = np.array([bone_lengths(s.joints).mean(axis=0) for s in ds.sequences])
    gaps = np.abs(bones[:, None] - bones[None]).mean(-1)  # (40, 40) mean bone-length difference
    same = labels[:, None] == labels[None]
    off_diagonal = ~np.eye(40, dtype=bool)
    assert gaps[same & off_diagonal].mean() < 0.5 * gaps[~same].mean()

    def windows(indices):
        feats, ids = [], []
        for i in indices:
            centred = root_centre(ds.sequences[i].joints)
            for start in range(0, len(centred) - 5, 6):
                feats.append(centred[start:start + 6].ravel())
                ids.append(labels[i])
        return np.array(feats), np.array(ids)
    probe, probe_ids = windows(ps.probe)
    gallery, gallery_ids = windows(ps.gallery)
    nearest = ((probe[:, None] - gallery[None]) ** 2).sum(-1).argmin(1)
    rank1 = (gallery_ids[nearest] == probe_ids).mean()
    assert 0.2 < rank1 < 0.95  # far above chance (0.1), far from trivial


def knee_swing_deg(joints: np.ndarray, side: str) -> float:
    hip, knee, ankle = (joints[:, J[f"{name}{side}"]] for name in ("Hip", "Knee", "Ankle"))
    thigh, shank = knee - hip, ankle - knee
    cos = (thigh * shank).sum(1) / np.linalg.norm(thigh, axis=1) / np.linalg.norm(shank, axis=1)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())


def test_limp_shrinks_one_side_only():
    person = make_identities(1, seed=6)[0]
    normal = towards_camera(person, seed=1)
    right, left = towards_camera(limping(person, "right"), seed=1), towards_camera(limping(person, "left"), seed=1)
    np.testing.assert_allclose(bone_lengths(right).mean(0), bone_lengths(normal).mean(0), atol=1e-4)  # same body
    ratio = {name: knee_swing_deg(j, "Right") / knee_swing_deg(j, "Left")
             for name, j in (("normal", normal), ("right", right), ("left", left))}
    assert ratio["right"] < 0.8 * ratio["normal"] and ratio["left"] > 1.2 * ratio["normal"]
    assert limping(person).cadence_hz < person.cadence_hz
    with pytest.raises(DatasetError, match="side='middle'"):
        limping(person, "middle")


def test_dataset_with_limp_sequences():
    ds = make_dataset(3, 2, frames=30, seed=2, limp_sequences=2)
    assert len(ds.sequences) == 12 and ds.name == "synthetic(ids=3,seqs=2,limp=2,seed=2)"
    limp = ds.probe_set("limp")
    assert {ds.sequences[i].condition for i in limp.probe} == {"limp"} and len(limp.probe) == 6
    assert {ds.sequences[i].condition for i in limp.gallery} == {"normal"} and len(limp.gallery) == 6
    plain = make_dataset(3, 2, frames=30, seed=2)
    assert [p.name for p in plain.probe_sets] == ["normal"]


def test_sensor_noise_is_counted_by_the_repair():
    clean = make_dataset(3, 2, frames=50, seed=1, noise_m=0.0, bias_m=0.0, drop_rate=0.0, frame_drop_rate=0.0)
    assert clean.report.clean and clean.report.frames_read == 300
    noisy = make_dataset(3, 2, frames=50, seed=1, drop_rate=0.02, frame_drop_rate=0.02)
    assert noisy.report.joints_repaired > 0 and noisy.report.frames_dropped > 0
    kept = sum(s.num_frames for s in noisy.sequences)
    assert kept == noisy.report.frames_read - noisy.report.frames_dropped
    assert all(np.isfinite(s.joints).all() for s in noisy.sequences)


def test_add_sensor_noise_marks_lost_joints_and_frames():
    joints = towards_camera(make_identities(1)[0])
    noisy = add_sensor_noise(joints, np.random.default_rng(0), noise_m=0.01, drop_rate=0.05, frame_drop_rate=0.05)
    assert np.isnan(noisy).any()
    assert (noisy == 0).all(axis=(1, 2)).any()
    ok = np.isfinite(noisy).all(-1) & ~(noisy == 0).all(-1)
    assert 0.005 < np.abs(noisy - joints)[ok].mean() < 0.03
    np.testing.assert_array_equal(joints, towards_camera(make_identities(1)[0]))  # input untouched


def test_scene_tracks_enter_cross_and_leave():
    room = (-2.0, 2.0, 1.5, 6.0)
    tracks = scene_tracks(4, seconds=10.0, fps=15.0, room=room, seed=3)
    assert len(tracks) == 4
    assert [t.start_frame for t in tracks] == sorted(t.start_frame for t in tracks)
    again = scene_tracks(4, seconds=10.0, fps=15.0, room=room, seed=3)
    assert [(t.identity, t.start_frame) for t in tracks] == [(t.identity, t.start_frame) for t in again]
    assert all(np.array_equal(a.joints, b.joints) for a, b in zip(tracks, again))
    for track in tracks:
        assert track.joints.shape[1:] == (20, 3)
        assert track.start_frame + len(track.joints) <= 150
        hip = track.joints[:, 0]
        assert np.all((hip[:, 0] > room[0] - 0.3) & (hip[:, 0] < room[1] + 0.3))
        assert np.all((hip[:, 2] > room[2] - 0.3) & (hip[:, 2] < room[3] + 0.3))
        assert np.linalg.norm(hip[-1, [0, 2]] - hip[0, [0, 2]]) > 0.5  # they move through the room
    with pytest.raises(DatasetError, match="no area"):
        scene_tracks(2, 5.0, room=(1.0, 0.0, 1.0, 2.0))


def test_synthetic_format_spec_and_errors():
    ds = load_dataset("synthetic:ids=3,seqs=2,frames=30,seed=1")
    assert len(ds.sequences) == 6 and ds.layout == "kinect_v1" and len(ds.identities) == 3
    same = load_dataset("synthetic", ids="3", seqs="2", frames="30", seed="1")  # the same keys as reader options
    np.testing.assert_array_equal(ds.sequences[5].joints, same.sequences[5].joints)
    with pytest.raises(DatasetError, match="valid keys"):
        load_dataset("synthetic:people=3")
    with pytest.raises(DatasetError, match="sequences_per_identity=1"):
        load_dataset("synthetic:seqs=1")
    with pytest.raises(DatasetError, match="not a valid int"):
        load_dataset("synthetic:ids=many")
