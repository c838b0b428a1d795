"""Files and folders skelwatch creates hold biometric data: owner-only (0600 files, 0700 folders), written whole.

The CLI also sets the process umask to 077, which covers files made by libraries (SQLite's -wal/-shm copy the
database file's mode, the RealSense recorder, torch.save); these helpers set the mode explicitly so library code
called from a test or the GUI gets the same modes. Existing files and folders keep the mode they have: a site
that shares a folder on purpose is not overruled.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as 0700 (existing ones are left as they are); returns it."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask; the intent is not
    return path


def create_private_file(path: Path) -> bool:
    """Create `path` empty with mode 0600 unless it exists; True when it was created now."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def open_private_append(path: Path) -> IO[str]:
    """`path` opened for appending text (UTF-8), created 0600 when missing."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    return os.fdopen(fd, "a", encoding="utf-8")


def private_temp_path(path: Path) -> Path:
    """The temporary name a file is written under before it replaces `path` (same folder, so rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path` whole or not at all: a 0600 temporary file, fsync, then rename over `path`.

    With `replace=False` an existing `path` is kept and FileExistsError raised (hard link, then unlink the
    temporary name), so a concurrent writer's file is never overwritten.
    """
    tmp = private_temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        else:
            commit_temp(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def commit_temp(tmp: Path, path: Path) -> None:
    """Move a finished, fsynced temporary file to `path` unless `path` exists (FileExistsError then)."""
    try:
        os.link(tmp, path)  # fails if `path` exists: no window in which another writer's file is replaced
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: check, then rename (a tiny race, no worse)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; a folder that cannot be opened (some filesystems) is skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
