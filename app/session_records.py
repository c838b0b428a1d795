"""The on-disk records of a session folder, validated at the edge: the manifest and the JSON lines.

Every byte of a session is read through these models, so a manifest that is not UTF-8 or has a field of the wrong
type, or a JSON line of the wrong shape, becomes one `SessionError` naming the file, the line and the field, never
a KeyError or TypeError deep in replay. Lines that are well formed but out of place (a frame number not above the
previous one, a time before the previous one: what an interrupted append or a copy mistake leaves) are skipped and
counted in a `RepairReport`, as the dataset readers count their bad rows; a torn last line (kill -9 mid-write) is
dropped and counted the same way. Nothing here writes.
"""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Optional, TypeVar

from annotated_types import Len
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from reid.datasets.base import RepairReport
from core.errors import SkelwatchError

logger = logging.getLogger(__name__)



class SessionError(SkelwatchError):
    """A session folder is missing, not a session, or its files cannot be read."""


def _not_infinite(value: float | None) -> float | None:
    if value is not None and math.isinf(value):
        raise ValueError("an infinite coordinate")
    return value


def _iso_time(value: str) -> str:
    datetime.fromisoformat(value)  # ValueError names the text
    return value


Finite = Annotated[float, Field(allow_inf_nan=False)]
IsoTime = Annotated[str, AfterValidator(_iso_time)]  # UTC ISO 8601
# A joint may be NaN (stored as NaN, or null by other writers): it could not be placed at all. Never infinite.
Coord = Annotated[Optional[float], AfterValidator(_not_infinite)]
Joints = Annotated[list[Annotated[list[Coord], Len(3, 3)]], Len(20, 20)]  # (20, 3) metres
Confidence = Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Len(20, 20)]
Box = Annotated[list[Finite], Len(4, 4)]
Keypoints = Annotated[list[Annotated[list[Coord], Len(2, 2)]], Len(20, 20)]
Signature = Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Len(1, 4096)]  # capture.appearance
MAX_LINE_BYTES = 1 << 20  # a frame of 30 people is ~60 kB; a longer line is damage, not data


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntrinsicsRecord(_Record):
    width: Annotated[int, Field(gt=0, le=100_000)]
    height: Annotated[int, Field(gt=0, le=100_000)]
    fx: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
    fy: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
    cx: Finite
    cy: Finite


class ManifestRecord(BaseModel):
    """`manifest.json`. Unknown keys are ignored (a newer skelwatch may add some); known ones must fit."""

    model_config = ConfigDict(extra="ignore")
    source: str
    device: str
    fps: Annotated[float, Field(gt=0.0, le=10_000.0, allow_inf_nan=False)]
    started_utc: IsoTime
    intrinsics: Optional[IntrinsicsRecord] = None
    software: dict[str, str] = Field(default_factory=dict)
    has_recording: bool = False
    format_version: Annotated[int, Field(ge=1, le=1)] = 1
    color_recorded: bool = True
    ended_utc: Optional[IsoTime] = None
    frames: Optional[Annotated[int, Field(ge=0)]] = None
    duration_s: Optional[Annotated[float, Field(ge=0.0, allow_inf_nan=False)]] = None
    dropped_frames: Optional[Annotated[int, Field(ge=0)]] = None


CAMERA_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,31}"  # a camera's name is also its sub-folder's name: no path in it
CameraName = Annotated[str, Field(pattern=f"^{CAMERA_NAME}$")]


class CameraEntry(BaseModel):
    """One camera of a multi-camera session: its sub-folder (named after it) and its place on the shared clock."""

    model_config = ConfigDict(extra="ignore")
    name: CameraName
    source: str
    # camera time + offset_s = shared time; None until the camera's first frame was recorded
    offset_s: Optional[Finite] = None


class CamerasRecord(BaseModel):
    """`cameras.json` at the top of a multi-camera session. Unknown keys are ignored, as in `manifest.json`."""

    model_config = ConfigDict(extra="ignore")
    format_version: Annotated[int, Field(ge=1, le=1)] = 1
    started_utc: IsoTime  # the shared clock's epoch (wall clock)
    clock: Literal["media", "host"]  # media: the sources' own times agree (files, synthetic); host: live cameras
    cameras: Annotated[list[CameraEntry], Len(1, 64)]
    ended_utc: Optional[IsoTime] = None

    @model_validator(mode="after")
    def _distinct_names(self) -> "CamerasRecord":
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"cameras {names} are not distinct")
        return self


class SkeletonRecord(_Record):
    j: Joints
    c: Confidence
    b: Optional[Box] = None  # x0, y0, x1, y1 pixels
    k: Optional[Keypoints] = None
    a: Optional[Signature] = None  # clothing-colour signature (older caches have none)

    @model_validator(mode="after")
    def _box_in_order(self) -> "SkeletonRecord":
        if self.b is not None and not (self.b[0] <= self.b[2] and self.b[1] <= self.b[3]):
            raise ValueError(f"box {self.b} is not x0 <= x1, y0 <= y1")
        return self


class SkeletonLine(_Record):
    """One line of `skeletons.jsonl`: a frame's pose output."""

    frame: Annotated[int, Field(ge=0)]
    t: Finite
    s: list[SkeletonRecord]


class TrackItem(_Record):
    id: Annotated[int, Field(ge=0)]
    state: str
    j: Joints


class TrackLine(_Record):
    """One line of `tracks.jsonl`: a frame's observed tracks."""

    frame: Annotated[int, Field(ge=0)]
    t: Finite
    tracks: list[TrackItem]


Line = TypeVar("Line", SkeletonLine, TrackLine)


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "the record"
    return f"{where}: {err['msg']}"


def parse_manifest(path: Path) -> ManifestRecord:
    """Raises: SessionError naming the manifest and the first field that does not fit."""
    return parse_record(path, ManifestRecord, "the skeletons and tracks beside it are still readable, but the "
                        "manifest must be restored or rewritten")


Record = TypeVar("Record", ManifestRecord, CamerasRecord)


def parse_record(path: Path, model: type[Record], fix: str) -> Record:
    """A JSON file as `model`. Raises: SessionError naming the file, the first field that does not fit, and `fix`."""
    try:
        data = path.read_bytes()
        return model.model_validate(json.loads(data.decode("utf-8")))
    except OSError as exc:
        raise SessionError(f"{path} cannot be read ({exc.strerror}); check its permissions") from None
    except UnicodeDecodeError:
        problem = "it is not UTF-8 text"
    except (json.JSONDecodeError, RecursionError) as exc:
        problem = f"it is not JSON ({exc.__class__.__name__})"
    except ValidationError as exc:
        problem = _problem(exc)
    raise SessionError(f"{path} is corrupt ({problem}); {fix}")


def parse_line(raw: bytes, model: type[Line]) -> Line:
    """One JSON line as `model`. Raises ValueError with the problem (the caller adds file and line)."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"the line is {len(raw)} bytes long (at most {MAX_LINE_BYTES})")
    try:  # pydantic's own JSON parser: ~1.5x faster than json.loads + validate, and it reads NaN too
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise ValueError(f"it is not JSON ({exc.errors()[0]['msg']})") from None
        raise ValueError(_problem(exc)) from None


def read_lines(path: Path, model: type[Line], report: RepairReport | None = None) -> list[Line]:
    """The well-formed, in-order records of a JSON-lines file.

    A torn last line is dropped; a line whose frame number is not above the previous kept one, or whose time is
    before it, is skipped. Both are counted in `report` (frames_read, frames_dropped, skipped) and logged once.
    Raises:
        SessionError: a line before the last that is not a valid record (the file was damaged, not cut short).
    """
    report = report if report is not None else RepairReport()
    try:
        with path.open("rb") as handle:
            lines = handle.read().split(b"\n")
    except OSError as exc:
        raise SessionError(f"{path} cannot be read ({exc.strerror}); check its permissions") from None
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last complete line
    kept: list[Line] = []
    out_of_order, first = 0, ""
    for number, raw in enumerate(lines, start=1):
        report.frames_read += 1
        try:
            record = parse_line(raw, model)
        except ValueError as exc:
            if number == len(lines):
                report.frames_dropped += 1
                report.skipped.append((f"{path.name} line {number}", "cut short (the recording was killed)"))
                logger.warning("%s: last line %d is cut short (the recording was killed); ignoring it", path, number)
                break
            raise SessionError(f"{path}: line {number} is corrupt ({exc}); the lines before it are intact. Cut "
                               f"the file before line {number} (head -n {number - 1}) to keep them") from None
        if kept and (record.frame <= kept[-1].frame or record.t < kept[-1].t):
            reason = (f"frame {record.frame} at {record.t:.3f} s after frame {kept[-1].frame} at {kept[-1].t:.3f} s "
                      "(duplicated or out of order)")
            out_of_order, first = out_of_order + 1, first or f"line {number}: {reason}"
            report.frames_dropped += 1
            report.skipped.append((f"{path.name} line {number}", reason))
            continue
        kept.append(record)
    if out_of_order:
        logger.warning("%s: skipped %d duplicated or out-of-order line(s); first %s", path, out_of_order, first)
    return kept


def nan_joints(rows: list[list[Coord]]) -> list[list[float]]:
    """JSON null joints (how some writers store NaN) as NaN, so the array is numeric."""
    return [[math.nan if v is None else v for v in row] for row in rows]
