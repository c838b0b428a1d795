"""A recording is evidence: replay and train leave a session byte for byte as it was (checksums), also one
without a skeleton cache and one left by a killed recording; only `session repair` changes a session, and says
what it changed. Lines out of order are skipped and counted, not fatal. What skelwatch creates is owner-only."""
from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path

import pytest

from app.cli import main
from app.session import MANIFEST, SKELETONS, TRACKS, load_skeleton_cache, load_tracks, read_manifest
from app.session_repair import check_session, repair_session
from reid.datasets.base import RepairReport

REPO = Path(__file__).resolve().parents[2]
SMALL_TRAIN = ["--set", "model.hidden=16", "--set", "model.heads=2", "--set", "train.epochs=1",
               "--set", "train.threads=1", "--set", "train.batch_size=4", "--set", "train.stride=1"]


def checksums(folder: Path) -> dict[str, str]:
    """Every file under `folder` (names, hidden ones too) with its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
def recorded(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    """A 3 s synthetic session with its .db3 (small images, so pose is quick on a replay without cache)."""
    out = tmp_path_factory.mktemp("rec") / "session"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKELWATCH_HOME", str(home))
        code = main(["--log-level", "WARNING", "record", "--source", "synthetic", "--people", "2", "--seconds", "3",
                     "--size", "160x120", "--no-gallery", "--out", str(out)])
    assert code == 0
    return out


def copy_session(src: Path, dst: Path, names: tuple[str, ...]) -> Path:
    dst.mkdir()
    for name in names:
        shutil.copyfile(src / name, dst / name)
    return dst


def killed(src: Path, dst: Path) -> Path:
    """What `kill -9` leaves: both JSON-lines files cut inside their last line, the manifest never finalised."""
    copy_session(src, dst, ("recording.db3", "recording.db3.json", SKELETONS, TRACKS))
    manifest = (src / MANIFEST).read_text()
    manifest = manifest.replace('"ended_utc": "', '"ended_utc": null, "x_was": "').replace('"frames": 45', '"frames": null')
    (dst / MANIFEST).write_text(manifest)
    for name in (SKELETONS, TRACKS):
        data = (dst / name).read_bytes()
        (dst / name).write_bytes(data[: len(data) - 10])
    assert not read_manifest(dst).complete
    return dst


def test_replay_and_train_leave_a_session_unchanged(recorded: Path, tmp_path: Path) -> None:
    before = checksums(recorded)
    assert main(["replay", "--no-gallery", str(recorded)]) == 0
    assert main(["replay", "--no-gallery", "--images", str(recorded)]) == 0
    assert main([*SMALL_TRAIN, "train", "--data", str(recorded), "--run", "r", "--runs-dir", str(tmp_path)]) == 0
    assert checksums(recorded) == before


def test_replay_without_cache_adds_only_a_whole_cache(recorded: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: no cache used to double tracks.jsonl. Now the originals keep their bytes and the new
    cache appears whole, holding exactly the recording's frames; the second replay uses it and changes nothing."""
    copy = copy_session(recorded, tmp_path / "s", (MANIFEST, "recording.db3", "recording.db3.json", TRACKS))
    before = checksums(copy)
    assert main(["replay", "--no-gallery", str(copy)]) == 0
    after = checksums(copy)
    assert {k: v for k, v in after.items() if k != SKELETONS} == before  # no temporary file left either
    assert sorted(load_skeleton_cache(copy)) == list(range(45))
    assert len(load_tracks(copy)) == len(load_tracks(recorded))
    assert main(["replay", "--no-gallery", str(copy)]) == 0
    assert "0 frames estimated, 45 from the skeleton cache" in capsys.readouterr().out
    assert checksums(copy) == after


def test_killed_recording_replays_and_trains_twice_unchanged(recorded: Path, tmp_path: Path) -> None:
    folder = killed(recorded, tmp_path / "k")
    before = checksums(folder)
    for _ in range(2):  # the second run used to fail: the first had appended after the torn line
        assert main(["replay", "--no-gallery", str(folder)]) == 0
        assert main([*SMALL_TRAIN, "train", "--data", str(folder), "--run", "k", "--runs-dir",
                     str(tmp_path / "runs")]) == 0
        shutil.rmtree(tmp_path / "runs")
    assert checksums(folder) == before


def test_a_cache_torn_in_its_only_line_is_left_alone(recorded: Path, tmp_path: Path) -> None:
    folder = copy_session(recorded, tmp_path / "t", (MANIFEST, "recording.db3", "recording.db3.json"))
    (folder / SKELETONS).write_bytes((recorded / SKELETONS).read_bytes()[:100])
    before = checksums(folder)
    for _ in range(2):
        assert main(["replay", "--no-gallery", str(folder)]) == 0
    assert checksums(folder) == before


def test_repair_drops_the_torn_lines_and_finalises_the_manifest(recorded: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = killed(recorded, tmp_path / "k")
    before = checksums(folder)
    assert main(["session", "repair", "--dry-run", str(folder)]) == 0
    dry = capsys.readouterr().out
    assert checksums(folder) == before and dry.count("would change:") == 3
    assert main(["session", "repair", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "skeletons.jsonl: dropped the torn last line 45" in out and "tracks.jsonl: dropped the torn" in out
    assert "manifest.json: finalised from the last frame: 44 frames" in out
    manifest = read_manifest(folder)
    assert manifest.complete and manifest.frames == 44 and manifest.duration_s == pytest.approx(43 / 15.0)
    assert (folder / SKELETONS).read_bytes() == b"".join(
        (recorded / SKELETONS).read_bytes().splitlines(keepends=True)[:44])
    assert check_session(folder).lines[SKELETONS].frames_dropped == 0
    assert main(["session", "repair", str(folder)]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_duplicated_and_out_of_order_lines_are_skipped_and_counted(recorded: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_session(recorded, tmp_path / "o", (MANIFEST, TRACKS))
    lines = (recorded / SKELETONS).read_bytes().splitlines(keepends=True)
    shuffled = lines[:30] + [lines[29], lines[10]] + lines[30:]  # frame 29 twice, then frame 10 again
    (folder / SKELETONS).write_bytes(b"".join(shuffled))
    report = RepairReport()
    assert sorted(load_skeleton_cache(folder, report)) == list(range(45))
    assert report.frames_read == 47 and report.frames_dropped == 2
    assert [why.split(" (")[0] for _, why in report.skipped] == ["frame 29 at 1.933 s after frame 29 at 1.933 s",
                                                                 "frame 10 at 0.667 s after frame 29 at 1.933 s"]
    assert main(["replay", "--no-gallery", str(folder)]) == 0  # used to stop at "got frame 29 after frame 29"
    assert "45 from the skeleton cache" in capsys.readouterr().out


def test_recorded_files_are_owner_only(recorded: Path) -> None:
    assert stat.S_IMODE(recorded.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in recorded.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes


def test_repair_refuses_damage_before_the_last_line(recorded: Path, tmp_path: Path) -> None:
    folder = copy_session(recorded, tmp_path / "d", (MANIFEST, SKELETONS, TRACKS))
    lines = (folder / TRACKS).read_bytes().splitlines(keepends=True)
    lines[5] = b'{"frame": "five", "t": 0.3, "tracks": []}\n'
    (folder / TRACKS).write_bytes(b"".join(lines))
    before = checksums(folder)
    from app.session_records import SessionError

    with pytest.raises(SessionError, match=r"tracks.jsonl: line 6 is corrupt \(frame: .*head -n 5"):
        repair_session(folder)
    assert checksums(folder) == before
