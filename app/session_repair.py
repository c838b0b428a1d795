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
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from app.session import MANIFEST, SKELETONS, TRACKS, is_session, read_manifest, write_manifest
from app.session_cameras import CAMERAS, is_multi_session, now_utc, read_cameras, write_cameras
from app.session_records import (CAMERA_NAME, CameraEntry, CamerasRecord, SessionError, SkeletonLine, TrackLine,
                                 parse_line, read_lines)
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
    """Read every file of a session (of each camera, for a multi-camera session) as replay and training would,
    counting what they skip. Writes nothing.

    Raises:
        SessionError: not a session, or a file damaged before its last line (named with the line).
    """
    folder = Path(folder)
    if is_multi_session(folder):
        return _merged(folder, [check_session(folder / c.name) for c in read_cameras(folder).cameras])
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
    A multi-camera session has each camera repaired, and its `cameras.json` rebuilt when corrupt and finalised
    when unfinished (`_repair_cameras`).

    Raises:
        SessionError: not a session, or damage a repair does not decide about (a corrupt line before the last).
    """
    folder = Path(folder)
    if is_multi_session(folder):
        return _repair_cameras(folder, dry_run)
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


def _merged(folder: Path, checks: list[SessionCheck]) -> SessionCheck:
    """The checks of a multi-camera session's cameras as one, each file and change named "<camera>/<file>"."""
    result = SessionCheck(folder)
    for check in checks:
        camera = check.folder.name
        result.lines.update({f"{camera}/{name}": report for name, report in check.lines.items()})
        result.changes += [f"{camera}/{change}" for change in check.changes]
    return result


def _repair_cameras(folder: Path, dry_run: bool) -> SessionCheck:
    """Repair each camera of a multi-camera session, then its `cameras.json`: rebuilt from the camera folders
    when it cannot be read (the cameras' offsets on the shared clock are lost then: 0 s, said in the change),
    finalised from the cameras' manifests when the recording was killed before it was."""
    try:
        record: CamerasRecord | None = read_cameras(folder)
    except SessionError:  # corrupt: rebuilt below
        record = None
    names = [c.name for c in record.cameras] if record is not None else sorted(
        p.name for p in folder.iterdir() if is_session(p) and re.fullmatch(CAMERA_NAME, p.name))
    if not names:
        raise SessionError(f"{folder / CAMERAS} cannot be rebuilt: no camera folder (a sub-folder with a "
                           f"{MANIFEST}) is here")
    result = _merged(folder, [repair_session(folder / name, dry_run=dry_run) for name in names if
                              is_session(folder / name)])
    manifests = [read_manifest(folder / name) for name in names if is_session(folder / name)]
    ends = [m.ended_utc for m in manifests if m.ended_utc is not None]
    if record is None:
        record = CamerasRecord(started_utc=min(m.started_utc for m in manifests), clock="media",
                               cameras=[CameraEntry(name=n, source=m.source, offset_s=0.0)
                                        for n, m in zip(names, manifests)], ended_utc=max(ends, default=None))
        result.changes.append(f"{CAMERAS}: rebuilt from the camera folders {', '.join(names)}; their offsets on "
                              "the shared clock were lost, so they replay as if started together (0 s)")
    elif record.ended_utc is None:
        record = record.model_copy(update={"ended_utc": max(ends, default=None) or now_utc()})
        result.changes.append(f"{CAMERAS}: finalised: ended {record.ended_utc} (when its last camera did)")
    else:
        return result
    if not dry_run:
        write_cameras(folder, record)
    logger.info("%s: %s", folder, result.changes[-1])
    return result
