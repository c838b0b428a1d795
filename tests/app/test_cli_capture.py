"""record / replay / run from the command line: sessions, the skeleton cache, clear errors, crash safety."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.session import SKELETONS, load_skeleton_cache, load_tracks, read_manifest
from tests.shared_data import VTEST

REPO = Path(__file__).resolve().parents[2]
TRACK_LINE = re.compile(r"^\s+track\s+\d+ .*$", re.MULTILINE)
CACHE_HITS = re.compile(r"(\d+) frames estimated, (\d+) from the skeleton cache")


def tracks_printed(out: str) -> list[str]:
    return TRACK_LINE.findall(out)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A skelwatch home of its own (the gallery database the commands write sightings to lives there), with
    the set-up's MediaPipe bundle linked in, read only."""
    from capture.pose import default_bundle_path

    home = tmp_path_factory.mktemp("home")
    (home / "models").mkdir()
    name = default_bundle_path().name
    (home / "models" / name).symlink_to(REPO / "data" / "models" / name)
    return home


@pytest.fixture(autouse=True)
def _use_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKELWATCH_HOME", str(home))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, home: Path) -> tuple[Path, str]:
    """A 3-second synthetic session (small images: fast to render and decode) and what `record` printed."""
    out = tmp_path_factory.mktemp("rec") / "session"
    capture = subprocess.run([sys.executable, "main.py", "--log-level", "WARNING", "record", "--source", "synthetic",
                              "--people", "3", "--seconds", "3", "--size", "160x120", "--out", str(out)],
                             cwd=REPO, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "SKELWATCH_HOME": str(home)})
    assert capture.returncode == 0, capture.stderr
    return out, capture.stdout


def test_record_writes_a_complete_session(recorded: tuple[Path, str]) -> None:
    folder, out = recorded
    manifest = read_manifest(folder)
    assert manifest.complete and manifest.frames == 45 and manifest.has_recording and manifest.fps == 15.0
    assert (folder / "recording.db3").stat().st_size > 0
    assert sorted(load_skeleton_cache(folder)) == list(range(45))
    assert {r.track_id for r in load_tracks(folder)} >= {1, 2}
    assert "45 frames in" in out and tracks_printed(out)


def test_replay_gives_the_same_tracks_as_the_live_run(recorded: tuple[Path, str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder, record_out = recorded
    assert main(["replay", str(folder)]) == 0
    cached = capsys.readouterr().out
    assert tracks_printed(cached) == tracks_printed(record_out)
    assert CACHE_HITS.search(cached).groups() == ("0", "45")  # pose skipped: every frame from the cache
    assert main(["replay", "--images", str(folder)]) == 0  # through the .db3 images, cache still used
    decoded = capsys.readouterr().out
    assert tracks_printed(decoded) == tracks_printed(record_out) and "replayed recording.db3" in decoded


def test_replay_accounts_for_skeletons_and_writes_mot_tracks(recorded: tuple[Path, str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = recorded
    mot = tmp_path / "tracks.txt"
    assert main(["replay", str(folder), "--no-gallery", "--tracks-out", str(mot)]) == 0
    out = capsys.readouterr().out
    summary = re.search(r"^45 frames in [\d.]+ s \([\d.]+ fps\), 0 dropped, (\d+) confirmed tracks, (\d+)/(\d+) windows "
                        r"encoded, ", out, re.MULTILINE)
    assert summary and int(summary.group(1)) >= 2
    made = re.search(r"^windows: (\d+) made from (\d+) frames", out, re.MULTILINE)
    assert made and made.group(1) == summary.group(3)  # the buffer's count is the summary's
    skeletons = re.search(r"^skeletons: (\d+) \([\d.]+/frame\), (\d+) to a confirmed track", out, re.MULTILINE)
    assert skeletons and 0 < int(skeletons.group(2)) <= int(skeletons.group(1))
    assert re.search(r"^tracks: \d+ born, \d+ confirmed, \d+ reacquired", out, re.MULTILINE)
    rows = [line.split(",") for line in mot.read_text().splitlines()]
    assert rows and all(len(r) == 10 and r[6:] == ["1", "-1", "-1", "-1"] for r in rows)
    frames = [int(r[0]) for r in rows]
    assert min(frames) >= 1 and max(frames) <= 45 and frames == sorted(frames)
    assert {int(r[1]) for r in rows} <= {int(t.split()[1]) for t in tracks_printed(out)}
    assert all(float(r[4]) > 0 and float(r[5]) > 0 for r in rows)


def test_first_replay_fills_a_missing_cache_and_the_second_uses_it(recorded: tuple[Path, str], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder, record_out = recorded
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("manifest.json", "recording.db3", "recording.db3.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    assert main(["replay", str(copy)]) == 0
    first = capsys.readouterr().out
    assert CACHE_HITS.search(first).group(2) == "0" and len(load_skeleton_cache(copy)) == 45
    assert main(["replay", str(copy)]) == 0
    second = capsys.readouterr().out
    assert CACHE_HITS.search(second).groups() == ("0", "45")
    assert tracks_printed(first) == tracks_printed(second) == tracks_printed(record_out)


def test_corrupt_recording_is_a_clear_error_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.db3"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.db3" in err and "corrupt" in err and "Traceback" not in err


def test_missing_camera_is_a_clear_error_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--source", "realsense:000000000000", "--seconds", "1", "--out", str(tmp_path / "s")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_session_with_a_corrupt_recording_replays_its_cache(recorded: tuple[Path, str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder, record_out = recorded
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("manifest.json", SKELETONS, "tracks.jsonl"):
        (copy / name).write_bytes((folder / name).read_bytes())
    (copy / "recording.db3").write_bytes(b"\x00" * 2048)
    assert main(["replay", "--images", str(copy)]) == 0  # the images are gone, the skeletons are not
    out = capsys.readouterr().out
    assert tracks_printed(out) == tracks_printed(record_out) and "(skeleton cache)" in out


def test_existing_session_is_never_overwritten(recorded: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = recorded
    before = (folder / SKELETONS).read_bytes()
    assert main(["record", "--source", "synthetic", "--seconds", "1", "--out", str(folder)]) == 2
    assert "already holds a recorded session" in capsys.readouterr().err
    assert (folder / SKELETONS).read_bytes() == before


def test_kill_9_while_recording_loses_at_most_a_second(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "main.py", "--log-level", "WARNING", "record", "--source", "synthetic",
                             "--people", "2", "--seconds", "60", "--speed", "1", "--size", "160x120",
                             "--out", str(out)],
                            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "SKELWATCH_HOME": os.environ["SKELWATCH_HOME"]})
    reported = -1
    deadline = time.monotonic() + 240
    try:
        for line in proc.stderr:  # progress lines: "frame N  t=..."; kill once 2 s of media time are done
            match = re.match(r"frame\s+(\d+)", line)
            if match:
                reported = int(match.group(1))
            if reported >= 30 or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert reported >= 30, "the recording never got going"
    cache = load_skeleton_cache(out)
    # Progress is printed after a frame was processed; at most ~1 s (15 frames) may be lost after it.
    assert max(cache) >= reported - 15
    assert sorted(cache) == list(range(max(cache) + 1))  # no hole: an append-only prefix
    assert not read_manifest(out).complete
    assert main(["replay", str(out)]) == 0  # what was kept replays (pose runs on frames the cache lacks)


def test_run_on_a_real_video_runs_pose_and_tracks_people(capsys: pytest.CaptureFixture[str]) -> None:
    video = str(VTEST)
    assert main(["run", "--source", video, "--seconds", "0.6", "--speed", "8", "--no-gallery"]) == 0
    out = capsys.readouterr().out
    estimated = int(CACHE_HITS.search(out).group(1))
    assert estimated == 6 and "0 dropped" in out  # 0.6 s of a 10 fps video, every frame through pose
    assert len(tracks_printed(out)) >= 2  # vtest.avi has several pedestrians from the first frame


def test_train_reads_a_recorded_session_without_labels(recorded: tuple[Path, str], tmp_path: Path) -> None:
    folder, _ = recorded
    small = ["--set", "model.hidden=16", "--set", "model.heads=2", "--set", "train.batch_size=8",
             "--set", "train.epochs=1", "--set", "cluster.k1=4", "--set", "cluster.k2=2"]
    done = subprocess.run([sys.executable, "main.py", "--log-level", "WARNING", *small, "train", "--data",
                           str(folder), "--run", "site", "--runs-dir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "site" / "best" / "model.json").read_text())
    assert meta["num_joints"] == 20 and meta["layout"] == "kinect_v1"
    assert "windows" in done.stdout
