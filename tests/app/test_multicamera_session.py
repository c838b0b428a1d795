"""Multi-camera sessions: `record --source A --source B` writes one session per camera on one clock; replay plays
them in step from their caches (a person who crossed keeps one identity, as live); training reads every camera;
a missing or cut camera is named and the others play; a corrupt cameras.json names the file and `session repair`.

Real components throughout: synthetic scenes, the shipped encoder, a SQLite gallery, real files."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from app.cli import main
from app.commands.train import training_windows
from app.compose import build_multi_pipeline
from app.config import load_config
from app.pipeline.multi import Camera
from app.session import MANIFEST, SKELETONS, TRACKS, is_session, load_skeleton_cache, read_manifest
from app.session_cameras import CAMERAS, MultiSessionRecorder, read_cameras
from app.session_dataset import load as load_session_dataset
from app.session_records import SessionError
from app.session_repair import check_session
from app.session_replay import open_camera_sessions
from bench.handoff import score_site, two_cameras
from capture.sources.synthetic import SyntheticScene
from reid.datasets import load_dataset
from tests.app.test_multicamera import Collect
from tests.app.test_session_safety import checksums

FRAMES = 30  # 2 s at 15 fps


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic cameras, 2 s each, with their .db3 recordings."""
    out = tmp_path_factory.mktemp("rec") / "site"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKELWATCH_HOME", str(tmp_path_factory.mktemp("home")))
        code = main(["--log-level", "WARNING", "record", "--source", "door=synthetic", "--source", "hall=synthetic",
                     "--seconds", "2", "--size", "80x60", "--no-gallery", "--out", str(out)])
    assert code == 0
    return out


def copy_of(recorded: Path, dst: Path) -> Path:
    shutil.copytree(recorded, dst)
    return dst


def test_record_writes_a_session_per_camera_and_the_shared_clock(recorded: Path) -> None:
    site = read_cameras(recorded)
    assert [c.name for c in site.cameras] == ["door", "hall"] and site.clock == "media"
    assert [c.source for c in site.cameras] == ["synthetic", "synthetic"]
    assert [c.offset_s for c in site.cameras] == [0.0, 0.0] and site.ended_utc is not None
    assert sorted(p.name for p in recorded.iterdir()) == [CAMERAS, "door", "hall"]
    for name in ("door", "hall"):
        manifest = read_manifest(recorded / name)
        assert manifest.complete and manifest.frames == FRAMES and manifest.has_recording
        assert (recorded / name / "recording.db3").is_file()
        assert sorted(load_skeleton_cache(recorded / name)) == list(range(FRAMES))
    lines = check_session(recorded).lines
    assert sorted(lines) == [f"{c}/{f}" for c in ("door", "hall") for f in (SKELETONS, TRACKS)]
    assert all(r.frames_read == FRAMES and r.frames_dropped == 0 for r in lines.values())


def test_a_camera_that_started_later_replays_at_its_place_on_the_shared_clock(tmp_path: Path) -> None:
    late = SyntheticScene(2, 4.0, 15.0, 4, width=80, height=60)
    late.seek(1.0)  # its first frame is 1 s into the scene's media time; its .db3 counts from 0
    cameras = [Camera("door", SyntheticScene(2, 3.0, 15.0, 3, width=80, height=60), True), Camera("hall", late, True)]
    recorder = MultiSessionRecorder.create(tmp_path / "s", [(c.name, c.source, "synthetic") for c in cameras])
    pipeline = build_multi_pipeline(load_config(), cameras, speed=None)
    pipeline.start_recording(recorder.recorders)
    pipeline.run()
    recorder.close()
    assert [c.offset_s for c in read_cameras(tmp_path / "s").cameras] == [0.0, 1.0]
    assert load_skeleton_cache(tmp_path / "s" / "hall")[0][0].timestamp_s == 0.0  # stored on the camera's clock

    replayed, failed = open_camera_sessions(tmp_path / "s", io.StringIO())
    collect = Collect()
    summaries = build_multi_pipeline(load_config(), replayed, speed=None, listeners=(collect,)).run()
    assert failed == [] and collect.errors == []
    times = {name: [f.timestamp_s for f in collect.frames if f.camera == name] for name in ("door", "hall")}
    assert times["door"][:2] == pytest.approx([0.0, 1 / 15], abs=1e-6) and len(times["door"]) == 45
    assert times["hall"][:2] == pytest.approx([1.0, 1 + 1 / 15], abs=1e-6) and len(times["hall"]) == 45
    assert replayed[1].skeleton_cache[0][0].timestamp_s == pytest.approx(1.0)  # the buffer's times too
    assert all(s.pose_estimated == 0 and s.pose_cache_hits == 45 for s in summaries.values())


def test_people_who_crossed_keep_one_identity_on_replay(tmp_path: Path) -> None:
    """bench.handoff's site (4 walkers a camera, 2 cross from A to B): recorded, then replayed with the gallery."""
    scenes = two_cameras(2, 4, (80, 60))
    cameras = [Camera(name, scene, True) for name, scene in scenes.items()]
    recorder = MultiSessionRecorder.create(tmp_path / "s", [(c.name, c.source, "synthetic") for c in cameras],
                                           record_raw=False)
    pipeline = build_multi_pipeline(load_config(), cameras, speed=None)
    pipeline.start_recording(recorder.recorders)
    pipeline.run()
    recorder.close()

    replayed, failed = open_camera_sessions(tmp_path / "s", io.StringIO())
    figures, errors = score_site(load_config(), scenes, replayed, tmp_path / "replay.db", "replay")
    assert failed == [] and errors == []
    assert figures.crossers == 2 and figures.handed_right == 2 and figures.handed_wrong == 0

    # the shared clock is what lines them up: B a minute late and nobody is handed over
    site = json.loads((tmp_path / "s" / CAMERAS).read_text())
    site["cameras"][1]["offset_s"] = 60.0
    (tmp_path / "s" / CAMERAS).write_text(json.dumps(site))
    replayed, _ = open_camera_sessions(tmp_path / "s", io.StringIO())
    shifted, _ = score_site(load_config(), scenes, replayed, tmp_path / "shifted.db", "shifted")
    assert shifted.handed_right == 0


def test_replay_plays_every_camera_from_its_cache_and_changes_nothing(recorded: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = checksums(recorded)
    assert main(["replay", "--no-gallery", str(recorded), "--tracks-out", str(tmp_path / "mot.txt")]) == 0
    out = capsys.readouterr().out
    for name in ("door", "hall"):
        assert f"camera {name}: {FRAMES} frames in" in out
        assert f"0 frames estimated, {FRAMES} from the skeleton cache" in out.split(f"camera {name}: ")[1]
    tracks = [line.split() for line in out.splitlines() if line.startswith("  ") and " track " in line]
    assert tracks and {t[0] for t in tracks} == {"door", "hall"}
    assert all(int(t[2]) % 2 == (1 if t[0] == "door" else 0) for t in tracks)
    assert (tmp_path / "mot.txt").read_text().count("\n") > 0
    assert checksums(recorded) == before


def test_a_missing_or_cut_camera_is_named_and_the_others_play(recorded: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    gone = copy_of(recorded, tmp_path / "gone")
    shutil.rmtree(gone / "hall")
    assert main(["replay", "--no-gallery", str(gone)]) == 1
    out, err = capsys.readouterr()
    assert f"camera hall ({gone / 'hall'}) cannot be replayed" in err and "has no manifest.json" in err
    assert f"camera door: {FRAMES} frames in" in out and "camera hall:" not in out

    cut = copy_of(recorded, tmp_path / "cut")
    data = (cut / "hall" / SKELETONS).read_bytes()
    (cut / "hall" / SKELETONS).write_bytes(data[: len(data) // 2])  # cut inside a line, as a full disk leaves it
    kept = data[: len(data) // 2].count(b"\n")
    assert main(["replay", "--no-gallery", str(cut)]) == 0
    out = capsys.readouterr().out
    assert f"camera door: {FRAMES} frames in" in out and f"camera hall: {kept} frames in" in out
    assert f"camera hall ({cut / 'hall'}) was cut short: {kept} of {FRAMES} frames" in caplog.text


def test_a_corrupt_cameras_json_names_the_fix_and_repair_rebuilds_it(recorded: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    site = copy_of(recorded, tmp_path / "site")
    for name in ("door", "hall"):  # what kill -9 leaves in each camera
        manifest = json.loads((site / name / MANIFEST).read_text())
        (site / name / MANIFEST).write_text(json.dumps({**manifest, "ended_utc": None, "frames": None}))
        data = (site / name / TRACKS).read_bytes()
        (site / name / TRACKS).write_bytes(data[:-10])
    (site / CAMERAS).write_bytes(b'{"format_version": 1, "started_')
    with pytest.raises(SessionError, match=rf"{CAMERAS} is corrupt .*session repair {site}` to rebuild it"):
        read_cameras(site)
    assert main(["replay", "--no-gallery", str(site)]) == 2
    assert f"{site / CAMERAS} is corrupt" in capsys.readouterr().err

    assert main(["session", "repair", str(site)]) == 0
    out = capsys.readouterr().out
    assert "door/tracks.jsonl: dropped the torn last line 30" in out and "hall/tracks.jsonl: dropped the torn" in out
    assert "door/manifest.json: finalised from the last frame: 30 frames" in out
    assert f"{CAMERAS}: rebuilt from the camera folders door, hall" in out
    rebuilt = read_cameras(site)
    assert [c.name for c in rebuilt.cameras] == ["door", "hall"] and [c.offset_s for c in rebuilt.cameras] == [0, 0]
    assert rebuilt.ended_utc == max(read_manifest(site / n).ended_utc for n in ("door", "hall"))
    assert main(["replay", "--no-gallery", str(site)]) == 0
    assert main(["session", "repair", str(site)]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_training_reads_every_cameras_tracks_as_distinct_sequences(recorded: Path, tmp_path: Path) -> None:
    both = load_session_dataset(recorded)
    door, hall = load_session_dataset(recorded / "door"), load_session_dataset(recorded / "hall")
    assert len(both.sequences) == len(door.sequences) + len(hall.sequences) > 0
    names = [s.name for s in both.sequences]
    assert len(set(names)) == len(names) and {n.split("/")[1] for n in names} == {"door", "hall"}
    assert load_dataset(recorded, None).name == "session:site"  # the format is detected

    windows, groups, _, _ = training_windows([recorded], None, 8, 2)
    each = [training_windows([recorded / n], None, 8, 2) for n in ("door", "hall")]
    assert len(windows) == sum(len(w) for w, _, _, _ in each) > 0
    assert len(set(groups.tolist())) == sum(len(set(g.tolist())) for _, g, _, _ in each)

    shutil.rmtree(copy_of(recorded, tmp_path / "half") / "hall")
    half = load_session_dataset(tmp_path / "half")
    assert len(half.sequences) == len(door.sequences)
    assert ("half/hall", f"{tmp_path / 'half' / 'hall'} is not a session (no {MANIFEST}): the camera's folder is "
            "missing") in half.report.skipped
    assert is_session(tmp_path / "half" / "door")
