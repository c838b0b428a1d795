"""`python main.py gallery ...` end to end on a real database under a temporary home."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.storage.conftest import people


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path))
    return tmp_path


def gallery_cmd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--log-level", "WARNING", "gallery", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_gallery_commands_change_the_default_database(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, x, y = people(2, 3)
    np.save(home / "ann.npy", x[y == 0])
    np.save(home / "bob.npy", x[y == 1])
    np.save(home / "bad.npy", x[:, :100])
    assert gallery_cmd(capsys, "enrol", "ann", "--npy", home / "ann.npy", "--watchlist")[0] == 0
    assert (home / "skelwatch.db").exists()
    assert gallery_cmd(capsys, "enrol", "bob", "--npy", home / "bob.npy")[0] == 0
    code, _, err = gallery_cmd(capsys, "enrol", "cy", "--npy", home / "bad.npy")
    assert code == 2 and "dimension 768" in err
    code, out, _ = gallery_cmd(capsys, "list")
    assert "ann" in out and "[watchlist]" in out and "2 identities, index exact over 6 embeddings" in out
    assert gallery_cmd(capsys, "watch", "ann", "off")[0] == 0
    assert "[watchlist]" not in gallery_cmd(capsys, "list")[1]
    assert gallery_cmd(capsys, "rename", "bob", "robert")[0] == 0
    assert "#2 robert" in gallery_cmd(capsys, "show", "robert")[1]
    code, out, _ = gallery_cmd(capsys, "export", home / "g.zip")
    assert code == 0 and "exported 2" in out
    code, _, err = gallery_cmd(capsys, "forget", "robert")
    assert code == 2 and "--yes" in err
    code, out, _ = gallery_cmd(capsys, "forget", "robert", "--yes")
    assert code == 0 and "3 embeddings, 3 index entries" in out
    code, out, _ = gallery_cmd(capsys, "import", home / "g.zip", "--on-conflict", "skip")
    assert code == 0 and "imported 1" in out
    code, out, _ = gallery_cmd(capsys, "calibrate", "--far", "0.0")
    assert code == 0 and "false-accept rate 0.0000" in out
    code, _, err = gallery_cmd(capsys, "--db", home / "other" / "x.db", "show", "ann")
    assert code == 2 and "no identity 'ann'" in err


def test_a_corrupt_database_file_is_reported(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = home / "bad.db"
    bad.write_text("hello")
    code, _, err = gallery_cmd(capsys, "--db", bad, "list")
    assert code == 2 and "not a SQLite database" in err and bad.read_text() == "hello"


def test_enrol_a_track_of_a_recorded_session_with_a_checkpoint(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from app.session import Manifest, SessionWriter
    from reid.checkpoint import ModelMeta, save_model
    from reid.model import HiMPC

    torch.manual_seed(0)
    meta = save_model(home / "ckpt", HiMPC(20, 16, 2), ModelMeta(num_joints=20, hidden=16, heads=2, frames=4,
                                                                 layout="kinect_v1"))
    rng = np.random.default_rng(0)
    writer = SessionWriter(home / "sess", Manifest(source="synthetic", device="test", fps=30.0,
                                                   started_utc="2026-05-01T12:00:00+00:00"))
    for frame in list(range(10)) + list(range(12, 18)):  # a gap after frame 9: windows never straddle it
        joints = (rng.normal(size=(20, 3)) * 0.3 + [0, 1, 3]).astype(np.float32)
        writer.append(frame, frame / 30.0, [], [(7, "confirmed", joints), (8, "confirmed", joints + 1)])
    writer.close()
    code, out, err = gallery_cmd(capsys, "enrol", "walker", "--session", home / "sess", "--track", 7,
                                 "--model", home / "ckpt")
    assert code == 0, err
    assert "with 3 windows of track 7" in out and meta.model_version in out  # 10 frames -> 2, 6 frames -> 1
    code, out, _ = gallery_cmd(capsys, "--model-version", meta.model_version, "show", "walker")
    assert code == 0 and "session 1 track 7" in out and "0.00-0.10 s" in out
    code, _, err = gallery_cmd(capsys, "enrol", "ghost", "--session", home / "sess", "--track", 99,
                               "--model", home / "ckpt")
    assert code == 2 and "no track 99" in err and "[7, 8]" in err
    # not-this takes the track as `show` prints it (the tracker's number, and the session when it is ambiguous).
    code, _, err = gallery_cmd(capsys, "--model-version", meta.model_version, "not-this", "walker", "--track", 5)
    assert code == 2 and "no track 5" in err and "gallery show" in err
    code, out, err = gallery_cmd(capsys, "--model-version", meta.model_version, "not-this", "walker", "--track", 7,
                                 "--session", 1)
    assert code == 0, err
    assert "track 7 is not walker; 3 embeddings detached" in out
    assert "0 embeddings" in gallery_cmd(capsys, "--model-version", meta.model_version, "show", "walker")[1]


def test_calibrate_warns_and_suggests_nothing_when_the_target_is_out_of_reach(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, x, y = people(2, 4)
    np.save(home / "ann.npy", x[y == 0])
    np.save(home / "bob.npy", np.concatenate([x[y == 1], x[:1]]))  # one of ann's windows enrolled as bob too
    assert gallery_cmd(capsys, "enrol", "ann", "--npy", home / "ann.npy")[0] == 0
    assert gallery_cmd(capsys, "enrol", "bob", "--npy", home / "bob.npy")[0] == 0
    code, out, _ = gallery_cmd(capsys, "calibrate", "--far", "0.01")
    assert code == 0 and "(target 0.01)" in out and "WARNING: the target false-accept rate 0.01 cannot be met" in out
    assert "No distance suggested" in out and "--set gallery.accept_distance" not in out
