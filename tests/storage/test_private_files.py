"""What storage creates is owner-only, never made from someone else's file, and never left half written."""
from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from storage.db import Database, open_database
from storage.errors import EmbeddingError, StorageError
from storage.gallery import Gallery
from storage.portable import export_gallery, import_gallery


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> None:
    """The usual umask, so the modes checked below come from skelwatch, not from the test's environment."""
    import os

    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_database_and_its_folder_are_owner_only(tmp_path: Path, umask_022: None) -> None:
    db = open_database(tmp_path / "new" / "gallery.db")
    try:
        Gallery(db, "v1", dim=6).enrol("ann", np.ones((2, 6), np.float32))
        assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "gallery.db") == 0o600
        assert mode(tmp_path / "new" / "gallery.db-wal") == 0o600  # SQLite copies the database's mode
    finally:
        db.dispose()


def test_an_empty_file_is_not_turned_into_a_gallery(tmp_path: Path) -> None:
    empty = tmp_path / "notes.db"
    empty.write_bytes(b"")
    with pytest.raises(StorageError, match="empty file, not a skelwatch gallery"):
        open_database(empty)
    assert empty.read_bytes() == b""


def test_a_missing_driver_is_named_and_the_password_hidden(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"u:\*\*\*@localhost/x needs the driver MySQLdb, which is not installed"):
        open_database("mysql+mysqldb://u:secret@localhost/x")


@pytest.fixture
def gallery(tmp_path: Path) -> Gallery:
    db = Database(tmp_path / "g.db")
    g = Gallery(db, "v1", dim=6)
    g.enrol("ann", np.arange(1, 13, dtype=np.float32).reshape(2, 6))
    yield g
    db.dispose()


def test_an_export_is_owner_only_and_never_written_into_a_folder(gallery: Gallery, tmp_path: Path,
                                                                umask_022: None) -> None:
    assert export_gallery(gallery.db, tmp_path / "out" / "g.zip") == 1
    assert mode(tmp_path / "out" / "g.zip") == 0o600 and mode(tmp_path / "out") == 0o700
    (tmp_path / "dir.zip").mkdir()
    with pytest.raises(StorageError, match="is a folder; name the file"):
        export_gallery(gallery.db, tmp_path / "dir.zip")
    assert not (tmp_path / "dir.zip.part").exists()


def rewritten(src: Path, dst: Path, vectors: np.ndarray) -> Path:
    with zipfile.ZipFile(src) as zf:
        manifest = zf.read("gallery.json")
    buf = io.BytesIO()
    np.save(buf, vectors)
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr("gallery.json", manifest)
        zf.writestr("vectors_0.npy", buf.getvalue())
    return dst


@pytest.mark.parametrize("bad, match", [(0.0, "vector 1 is all zeros"), (np.nan, "vector 1 .* NaN/inf")])
def test_zero_and_non_finite_vectors_are_refused(gallery: Gallery, tmp_path: Path, bad: float, match: str) -> None:
    export_gallery(gallery.db, tmp_path / "g.zip")
    vectors = np.arange(1, 13, dtype=np.float32).reshape(2, 6)
    vectors[1] = bad
    crafted = rewritten(tmp_path / "g.zip", tmp_path / "bad.zip", vectors)
    target = Database(tmp_path / "t.db")
    try:
        with pytest.raises(EmbeddingError, match=match):
            import_gallery(target, crafted)
    finally:
        target.dispose()


def test_ids_are_written_with_a_hash_and_names_may_be_digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path))
    np.save(tmp_path / "v.npy", np.ones((2, 768), np.float32))
    for name in ("ann", "2", "evil\u202eNAME"):
        code = main(["--log-level", "WARNING", "gallery", "enrol", name, "--npy", str(tmp_path / "v.npy")])
        assert code == (2 if "\u202e" in name else 0)
    assert "control or direction characters (U+202E)" in capsys.readouterr().err
    assert main(["gallery", "show", "2"]) == 0 and "#2 2" in capsys.readouterr().out  # the name "2" is id 2
    assert main(["gallery", "rename", "#1", "1"]) == 0
    assert main(["gallery", "show", "1"]) == 0 and "#1 1" in capsys.readouterr().out
    assert main(["gallery", "show", "3"]) == 2
    assert "no identity '3' (for the identity with id 3, write #3)" in capsys.readouterr().err
