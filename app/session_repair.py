"""Checking and repairing what a killed recording leaves: the one place that rewrites a session, on request.

A `kill -9` (or a power cut) mid-recording leaves a torn last JSON line and a manifest without `ended_utc`.
Readers already cope (they skip the torn line), but a session is evidence, so replay and training never change
it; `./skelwatch session repair DIR` does, explicitly, and reports each change: the torn last line of each
JSON-lines file is dropped (and counted), and the manifest is finalised from the last frame. Every rewrite goes
through a temporary file, fsync and rename, so a crash during the repair leaves the old file, never half of one.
Damage before the last line is reported, not cut: which lines to give up is the user's decision.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from app.session import MANIFEST, SKELETONS, TRACKS, read_manifest, write_manifest
from app.session_records import SessionError, SkeletonLine, TrackLine, parse_line, read_lines
from reid.datasets.base import RepairReport
from storage.files import write_atomic

logger = logging.getLogger(__name__)

_MODELS = {SKELETONS: SkeletonLine, TRACKS: TrackLine}


@dataclass
class SessionCheck:
    """What a session's files hold and what a repair would change (or changed)."""

    folder: Path
    lines: dict[str, RepairReport] = field(default_factory=dict)  # file name -> what reading it skipped
    changes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        out = []
        for name, report in self.lines.items():
            out.append(f"{name}: {report.frames_read} lines, {report.frames_dropped} skipped"
                       + "".join(f"; {what}: {why}" for what, why in report.skipped[:3])
                       + (f"; ... {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""))
        return out


def check_session(folder: Path) -> SessionCheck:
    """Read every file of a session as replay and training would, counting what they skip. Writes nothing.

    Raises:
        SessionError: not a session, or a file damaged before its last line (named with the line).
    """
    folder = Path(folder)
    read_manifest(folder)
    result = SessionCheck(folder)
    for name, model in _MODELS.items():
        if (folder / name).is_file():
            result.lines[name] = RepairReport()
            read_lines(folder / name, model, result.lines[name])
    return result


def _drop_torn_line(path: Path, dry_run: bool) -> str | None:
    """Cut an invalid last line (a kill mid-append); returns what was changed, or None."""
    data = path.read_bytes()
    body = data[:-1] if data.endswith(b"\n") else data
    cut = body.rfind(b"\n") + 1  # start of the last line (0 when the file has one line)
    last = body[cut:]
    if not last:
        return None
    number = body.count(b"\n") + 1
    try:
        parse_line(last, _MODELS[path.name])
    except ValueError as exc:
        if not dry_run:
            write_atomic(path, data[:cut])
        return f"{path.name}: dropped the torn last line {number} ({len(data) - cut} bytes; {exc})"
    if not data.endswith(b"\n"):  # whole, but killed before its newline: complete it so appends stay lines
        if not dry_run:
            write_atomic(path, data + b"\n")
        return f"{path.name}: ended the last line {number} with its missing newline"
    return None


def repair_session(folder: Path, *, dry_run: bool = False) -> SessionCheck:
    """Drop torn last lines and finalise an unfinished manifest; returns what changed (or would, with dry_run).

    Raises:
        SessionError: not a session, or damage a repair does not decide about (a corrupt line before the last).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    changes: list[str] = []
    for name in _MODELS:
        if (folder / name).is_file():
            try:
                change = _drop_torn_line(folder / name, dry_run)
            except OSError as exc:
                raise SessionError(f"{folder / name} cannot be repaired ({exc.strerror}); check its permissions "
                                   "and free space") from None
            if change:
                changes.append(change)
    if dry_run:
        result = SessionCheck(folder, changes=changes)
    else:
        result = check_session(folder)  # also proves the repaired files read cleanly
        result.changes = changes
    if not manifest.complete:
        lines = _frames(folder)
        if lines:
            duration = max(0.0, lines[-1].t - lines[0].t)
            started = datetime.fromisoformat(manifest.started_utc)
            ended = (started + timedelta(seconds=duration)).isoformat(timespec="milliseconds")
            final = replace(manifest, ended_utc=ended, frames=len(lines), duration_s=round(duration, 6))
            if not dry_run:
                write_manifest(folder, final)
            result.changes.append(f"{MANIFEST}: finalised from the last frame: {len(lines)} frames, "
                                  f"{duration:.3f} s, ended {ended}")
    for change in result.changes:
        logger.info("%s: %s", folder, change)
    return result


def _frames(folder: Path) -> list[SkeletonLine] | list[TrackLine]:
    """The session's frames, from the cache (else the tracks); the torn last line never counts."""
    for name, model in _MODELS.items():
        if (folder / name).is_file():
            lines = read_lines(folder / name, model, RepairReport())
            if lines:
                return lines
    return []
