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
