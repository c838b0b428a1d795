"""What a forget does beyond deleting rows: wipe the database's free pages and WAL, scrub the person from the
recorded session folders, and keep a forget log.

The session folders are scrubbed first (idempotent, so a forget killed before its transaction commits is
completed by running it again; the other order would lose, with the rows, where the skeletons are), then the
rows go in one transaction (`storage.identities.remove_identity`), then:

- **free pages**: `VACUUM` rewrites the database without the freed pages (`secure_delete` alone zeroes only what
  this delete frees, not the stale copies older updates left in free blocks), and `wal_checkpoint(TRUNCATE)`
  empties the WAL, which still holds page images of every earlier write. A reader in another process can hold
  the checkpoint back: that is reported (`free_pages_wiped` False) and the next forget or checkpoint finishes it.
- **session folders** (before the transaction): the person's tracks are removed from `tracks.jsonl` and their skeletons (the detection the
  tracker assigned, found by its joints in the same frame) from `skeletons.jsonl`; each file is rewritten through
  a temporary file and `os.replace`, so a crash leaves either the old or the new file. The raw recording
  (`recording.db3`: images of everyone in the scene) cannot be cut to one person: it is deleted with `drop_raw`,
  otherwise listed so the operator can delete it.
- **forget log**: one JSON line per forget (when, which command, the identity id, counts, folders touched). No
  name, no vector, no joint: the log must not bring back what was forgotten.

The file names are those `app.session` writes (a test keeps them equal); storage owns sessions on disk.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.errors import StorageError
from storage.identities import Removed
from storage.models import Recording, Session, utcnow

logger = logging.getLogger(__name__)

SKELETONS = "skeletons.jsonl"
TRACKS = "tracks.jsonl"
RECORDING = "recording.db3"
MANIFEST = "manifest.json"
RAW_FILES = (RECORDING, RECORDING + ".json")  # the SDK recording and its sidecar (which may hold true skeletons)
SAME_JOINTS_M = 0.02  # a stored skeleton within this mean joint distance of the track's is the track's detection


@dataclass(frozen=True)
class ForgetReport:
    """Everything a forget removed or could not remove, for the command's output and the forget log."""

    removed: Removed
    free_pages_wiped: bool
    sessions_scrubbed: tuple[str, ...] = ()
    track_lines_removed: int = 0
    skeletons_removed: int = 0
    raw_deleted: tuple[str, ...] = ()
    raw_left: tuple[str, ...] = ()  # recordings that still show the person (delete them, or forget with drop_raw)
    log_path: Optional[str] = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def forget_log_path(db: Database) -> Optional[Path]:
    """The forget log beside a SQLite file (`<name>.forget-log.jsonl`); None for a server database."""
    url = make_url(db.url)
    if not db.is_sqlite or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database)
    return path.with_name(path.name + ".forget-log.jsonl")


def wipe_free_pages(db: Database) -> tuple[bool, str]:
    """VACUUM and truncate the WAL of a SQLite database; returns (done, why not). Other back-ends: (True, "")."""
    if not db.is_sqlite:
        return True, ""
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("VACUUM")  # autocommit: the connection's isolation_level is None (storage.db)
        busy, _, _ = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cur.close()
    except sqlite3.Error as exc:
        return False, f"the free pages could not be wiped now ({exc}); run the forget's wipe again later"
    finally:
        raw.close()
    if busy:
        return False, ("another process is reading the database, so its WAL still holds old pages; they are "
                       "wiped at the next checkpoint (close the other skelwatch and forget again to be sure)")
    return True, ""


def _lines(path: Path) -> Iterator[tuple[str, Optional[dict[str, Any]]]]:
    """(raw line, parsed record or None when the line is not a JSON object) of a JSON-lines file."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            yield line, record if isinstance(record, dict) else None


def _rewrite(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".forget-tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _same_skeleton(joints: Any, track_joints: np.ndarray) -> bool:
    try:
        a = np.asarray(joints, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if a.shape != track_joints.shape or a.ndim != 2:
        return False
    gap = np.linalg.norm(a - track_joints, axis=-1)  # (V,) metres; NaN where either joint is missing
    finite = np.isfinite(gap)
    return bool(finite.any() and gap[finite].mean() <= SAME_JOINTS_M)


def scrub_session(folder: Path, track_keys: set[int]) -> tuple[int, int]:
    """Remove tracks `track_keys` from a session folder's tracks.jsonl and their skeletons from skeletons.jsonl.

    A line that is not a JSON object (torn by a kill, damaged) cannot be shown not to hold the person, so it is
    dropped too. Returns (track records removed, skeletons removed).
    """
    joints_at: dict[Any, list[np.ndarray]] = {}  # frame -> joints of the person's tracks in it
    tracks_removed = skeletons_removed = 0
    if (folder / TRACKS).is_file():
        kept: list[str] = []
        for line, record in _lines(folder / TRACKS):
            items = None if record is None else record.get("tracks")
            mine = [t for t in items if isinstance(t, dict) and t.get("id") in track_keys] \
                if isinstance(items, list) else []
            if record is None or not mine:
                kept += [] if record is None else [line]
                continue
            tracks_removed += len(mine)
            for t in mine:
                try:
                    joints_at.setdefault(record.get("frame"), []).append(np.asarray(t.get("j"), dtype=np.float64))
                except (TypeError, ValueError):
                    pass
            record["tracks"] = [t for t in items if t not in mine]
            kept.append(json.dumps(record, separators=(",", ":")) + "\n")
        _rewrite(folder / TRACKS, kept)
    if (folder / SKELETONS).is_file():
        kept = []
        for line, record in _lines(folder / SKELETONS):
            items = None if record is None else record.get("s")
            targets = joints_at.get(None if record is None else record.get("frame"), [])
            if record is None or not targets or not isinstance(items, list):
                kept += [] if record is None else [line]
                continue
            left = [sk for sk in items
                    if not (isinstance(sk, dict) and any(_same_skeleton(sk.get("j"), j) for j in targets))]
            skeletons_removed += len(items) - len(left)
            record["s"] = left
            kept.append(json.dumps(record, separators=(",", ":")) + "\n")
        _rewrite(folder / SKELETONS, kept)
    return tracks_removed, skeletons_removed


def _drop_raw(db: Database, folder: Path) -> list[str]:
    """Delete a session folder's raw recording; its Recording rows are marked deleted, the session skeleton-only."""
    gone = []
    for name in RAW_FILES:
        path = folder / name
        if path.is_file():
            path.unlink()
            gone.append(str(path))
    with db.write() as s:
        for sess in s.scalars(select(Session).where(Session.path == str(folder))):
            sess.skeleton_only = True
        for rec in s.scalars(select(Recording).where(Recording.path.in_(gone), Recording.deleted_at.is_(None))):
            rec.deleted_at = utcnow()
    return gone


def clean_files(db: Database, locations: Iterable[tuple[str, int]], *, drop_raw: bool) -> dict[str, Any]:
    """Scrub tracks (session folder, tracker id) from their session folders; delete or list the raw recordings.

    Idempotent: a second run over the same folders finds nothing more to remove.
    """
    by_path: dict[str, set[int]] = {}
    for path, key in locations:
        by_path.setdefault(path, set()).add(int(key))
    out: dict[str, Any] = {"sessions_scrubbed": [], "track_lines_removed": 0, "skeletons_removed": 0,
                           "raw_deleted": [], "raw_left": [], "notes": []}
    for path, keys in sorted(by_path.items()):
        folder = Path(path)
        if folder.is_file():  # a replayed file that is not a session folder: it shows the person, list it
            out["raw_left"].append(str(folder))
            continue
        if not (folder / MANIFEST).is_file():
            if folder.is_absolute() or folder.exists():
                out["notes"].append(f"session folder {folder} is gone or not a session; nothing to scrub there")
            continue
        try:
            tracks, skeletons = scrub_session(folder, keys)
            out["sessions_scrubbed"].append(str(folder))
            out["track_lines_removed"] += tracks
            out["skeletons_removed"] += skeletons
        except OSError as exc:
            out["notes"].append(f"could not scrub {folder} ({exc}); fix its permissions and scrub it by hand")
        raw = [str(folder / n) for n in RAW_FILES if (folder / n).is_file()]
        try:
            if raw and drop_raw:
                out["raw_deleted"] += _drop_raw(db, folder)
                raw = []
        except (OSError, StorageError) as exc:
            out["notes"].append(f"could not delete the raw recording of {folder} ({exc})")
        out["raw_left"] += [p for p in raw if Path(p).is_file()]
    return out


def write_log(path: Optional[Path], entry: dict[str, Any]) -> None:
    """Append one forget-log line (no names, vectors or joints: see the module docstring)."""
    logger.info("forget: %s", entry)
    if path is None:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def log_entry(db: Database, report: ForgetReport, command: str) -> dict[str, Any]:
    counts = {k: v for k, v in asdict(report.removed).items() if k not in ("name", "locations")}
    return {"at": utcnow().isoformat(timespec="seconds"), "command": command,
            "database": make_url(db.url).render_as_string(hide_password=True), **counts,
            "free_pages_wiped": report.free_pages_wiped, "sessions_scrubbed": list(report.sessions_scrubbed),
            "track_records_removed": report.track_lines_removed, "skeletons_removed": report.skeletons_removed,
            "raw_deleted": list(report.raw_deleted), "raw_left": list(report.raw_left)}
