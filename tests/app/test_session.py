"""Session folders: the skeleton cache and tracks survive a round trip, a torn last line, and refuse damage."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from app.session import (SKELETONS, TRACKS, SessionError, SessionWriter, is_session, load_skeleton_cache, load_tracks,
                         new_manifest, read_manifest)
from app.session_dataset import load as load_session_dataset
from app.session_dataset import register_format
from app.session_replay import CachedSkeletonSource, open_session
from capture.frames import Intrinsics, Skeleton3D
from reid.errors import DatasetError

INTR = Intrinsics(640, 480, 380.0, 380.0, 319.5, 239.5)


def skeleton(frame: int, t: float, x: float, nan_joint: int | None = None) -> Skeleton3D:
    joints = np.zeros((20, 3), dtype=np.float32)
    joints[:, 0] = x + 0.01 * np.arange(20)
    joints[:, 1] = -0.8 + 0.09 * np.arange(20)
    joints[:, 2] = 3.0
    if nan_joint is not None:
        joints[nan_joint] = np.nan
    conf = np.linspace(0.5, 1.0, 20, dtype=np.float32)
    keypoints = INTR.project(joints).astype(np.float32)
    looks = np.sqrt(np.linspace(0.0, 1.0, 8, dtype=np.float32))
    return Skeleton3D(joints, conf, (10.0, 20.0, 110.0, 220.0), t, frame, keypoints,
                      appearance=looks / np.linalg.norm(looks))


def write_session(folder: Path, frames: int = 30, fps: float = 15.0, close: bool = True) -> SessionWriter:
    writer = SessionWriter(folder, new_manifest("synthetic", "test scene", fps, INTR, has_recording=False))
    for i in range(frames):
        t = i / fps
        people = [skeleton(i, t, -1.0 + 0.05 * i), skeleton(i, t, 1.0, nan_joint=7 if i == 3 else None)]
        writer.append(i, t, people, [(1, "confirmed", people[0].joints), (2, "tentative", people[1].joints)])
    if close:
        writer.close(dropped_frames=2)
    return writer


def test_skeleton_cache_round_trip_keeps_values_and_nan(tmp_path: Path) -> None:
    write_session(tmp_path / "s")
    cache = load_skeleton_cache(tmp_path / "s")
    assert sorted(cache) == list(range(30))
    original = skeleton(5, 5 / 15.0, -1.0 + 0.25)
    got = cache[5][0]
    np.testing.assert_allclose(got.joints, original.joints, atol=1e-4)
    np.testing.assert_allclose(got.confidence, original.confidence, atol=1e-4)
    np.testing.assert_allclose(got.keypoints_2d, original.keypoints_2d, atol=1e-3)
    np.testing.assert_allclose(got.appearance, original.appearance, atol=1e-4)
    assert got.box == original.box and got.frame_index == 5 and got.timestamp_s == pytest.approx(5 / 15.0)
    assert np.isnan(cache[3][1].joints[7]).all() and np.isfinite(cache[3][1].joints[8]).all()


def test_manifest_records_totals_when_closed(tmp_path: Path) -> None:
    write_session(tmp_path / "s", frames=12)
    manifest = read_manifest(tmp_path / "s")
    assert manifest.complete and manifest.frames == 12 and manifest.dropped_frames == 2
    assert manifest.duration_s == pytest.approx(11 / 15.0)
    assert manifest.intrinsics["fx"] == 380.0 and manifest.software["numpy"] == np.__version__


def test_unclosed_session_is_readable_and_marked_incomplete(tmp_path: Path) -> None:
    writer = write_session(tmp_path / "s", frames=10, close=False)
    writer._skeletons._file.flush()  # what the periodic flush does; no close, as after kill -9
    writer._tracks._file.flush()
    assert not read_manifest(tmp_path / "s").complete
    assert len(load_skeleton_cache(tmp_path / "s")) == 10


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    write_session(tmp_path / "s", frames=8)
    path = tmp_path / "s" / SKELETONS
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # cut inside the last line, as a kill mid-write leaves it
    assert sorted(load_skeleton_cache(tmp_path / "s")) == list(range(7))


def test_corrupt_middle_line_names_the_line_and_the_fix(tmp_path: Path) -> None:
    write_session(tmp_path / "s", frames=8)
    path = tmp_path / "s" / TRACKS
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(SessionError, match=r"line 3 is corrupt.*head -n 2"):
        load_tracks(tmp_path / "s")


def test_not_a_session(tmp_path: Path) -> None:
    assert not is_session(tmp_path)
    with pytest.raises(SessionError, match="not a skelwatch session"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(SessionError, match="corrupt"):
        read_manifest(tmp_path)


def test_complete_cache_replays_without_images(tmp_path: Path) -> None:
    write_session(tmp_path / "s", frames=20)
    session = open_session(tmp_path / "s")
    assert isinstance(session.source, CachedSkeletonSource) and not session.fill_cache
    frames = list(session.source)
    assert [f.index for f in frames] == list(range(20)) and all(f.color is None for f in frames)
    session.source.seek(0.5)
    assert next(iter(session.source)).timestamp_s == pytest.approx(8 / 15.0)


def test_session_without_recording_or_cache_cannot_replay(tmp_path: Path) -> None:
    SessionWriter(tmp_path / "s", new_manifest("/nowhere/video.avi", "video", 30.0, None, False))
    (tmp_path / "s" / SKELETONS).unlink()
    with pytest.raises(SessionError, match="nothing to replay"):
        open_session(tmp_path / "s")


def test_session_is_an_unlabelled_dataset(tmp_path: Path) -> None:
    write_session(tmp_path / "s", frames=30)
    dataset = load_session_dataset(tmp_path / "s")
    # Only confirmed frames count (track 2 is tentative throughout); model convention: x and y negated.
    assert [s.name for s in dataset.sequences] == ["s/track1"]
    assert dataset.sequences[0].num_frames == 30 and dataset.train == (0,) and dataset.probe_sets == []
    first = skeleton(0, 0.0, -1.0).joints
    np.testing.assert_allclose(dataset.sequences[0].joints[0], first * np.array([-1, -1, 1]), atol=1e-4)
    assert dataset.report.frames_dropped == 30


def test_session_dataset_splits_gaps_and_registers(tmp_path: Path) -> None:
    writer = SessionWriter(tmp_path / "g", new_manifest("synthetic", "test", 10.0, None, False))
    for i in list(range(10)) + list(range(20, 30)):  # one second unseen in the middle
        sk = skeleton(i, i / 10.0, 0.0)
        writer.append(i, i / 10.0, [sk], [(4, "confirmed", sk.joints)])
    writer.close()
    register_format()
    from reid.datasets import load_dataset

    dataset = load_dataset(tmp_path / "g")
    assert [(s.name, s.num_frames) for s in dataset.sequences] == [("g/track4", 10), ("g/track4/part1", 10)]
    with pytest.raises(DatasetError, match="not a recorded session"):
        load_session_dataset(tmp_path)


def test_json_lines_are_compact(tmp_path: Path) -> None:
    write_session(tmp_path / "s", frames=1)
    record = json.loads((tmp_path / "s" / SKELETONS).read_text().splitlines()[0])
    assert record["frame"] == 0 and len(record["s"]) == 2 and len(record["s"][0]["j"]) == 20


def test_idle_writer_flushes_when_due(tmp_path: Path) -> None:
    writer = SessionWriter(tmp_path / "s", new_manifest("synthetic", "test", 15.0, INTR, False), flush_interval_s=0.05)
    writer.append(0, 0.0, [skeleton(0, 0.0, 0.0)], [])
    writer.append(1, 0.1, [skeleton(1, 0.1, 0.0)], [])  # within the interval: may still be buffered
    threading.Event().wait(0.1)
    writer.flush_if_due()  # what the recording thread does while no frame comes
    assert sorted(load_skeleton_cache(tmp_path / "s")) == [0, 1]  # on disk without close()
    writer.close()
