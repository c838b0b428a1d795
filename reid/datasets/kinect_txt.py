"""Plain-text skeleton files: one row per frame, an optional leading frame-id column, then J*3 numbers.

Numbers are separated by whitespace or commas; the joint order is a named reid.skeleton layout (option
`layout`, default kinect_v1) and is mapped to the canonical 20 joints. A leading frame-id column is recognised
by the column count (J*3 + 1); a non-numeric first row is taken as a header. Identity and session come from
the file name through a regular expression with named groups `identity` and `session`.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets.repair import DEFAULT_MAX_GAP, DEFAULT_MIN_FRAMES, repair_sequence
from reid.errors import DatasetError
from reid.skeleton import Layout, get_layout, to_canonical

logger = logging.getLogger(__name__)

DEFAULT_PATTERN = r"(?P<identity>[^_]+)_(?P<session>[^_.]+)"
DEFAULT_GLOB = "*.txt"
_SPLIT = re.compile(r"[\s,;]+")


def detect(path: str | Path) -> bool:
    """True for a .txt file or a folder holding .txt files (checked after the more specific formats)."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() == ".txt"
    return p.is_dir() and next(p.rglob(DEFAULT_GLOB), None) is not None


def _parse_row(line: str, path: Path, number: int) -> list[float] | None:
    """The numbers of one row; None for a header (a non-numeric first row). Raises for a bad later row."""
    fields = [f for f in _SPLIT.split(line.strip()) if f]
    try:
        return [float(f) for f in fields]
    except ValueError:
        if number == 1:
            return None
        raise DatasetError(f"{path}, line {number}: {line.strip()[:60]!r} is not a row of numbers") from None


def read_skeleton_text(path: Path, layout: Layout) -> np.ndarray:
    """(T, V, 3) float32 joints of one file in `layout` order (T may be 0 for an empty file).

    Raises:
        DatasetError: naming the file for an unreadable file, a non-numeric row, or a column count that is
            neither V*3 nor V*3 + 1, or rows of different lengths.
    """
    expected = layout.num_joints * 3
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read as a text skeleton file ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = _parse_row(line, path, number)
        if row is None:
            continue
        if len(row) not in (expected, expected + 1):
            raise DatasetError(
                f"{path}, line {number}: {len(row)} numbers, expected {expected} ({layout.num_joints} joints x 3 "
                f"for layout {layout.name!r}) or {expected + 1} with a leading frame id; pick the matching "
                f"layout= option")
        if rows and len(row) != len(rows[0]):
            raise DatasetError(f"{path}, line {number}: {len(row)} numbers but earlier rows have {len(rows[0])}")
        rows.append(row)
    if not rows:
        return np.zeros((0, layout.num_joints, 3), np.float32)
    values = np.asarray(rows, dtype=np.float64)[:, -expected:]  # drop the frame id column when present
    return values.reshape(len(rows), layout.num_joints, 3).astype(np.float32)


def _sessions(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    return tuple(str(s) for s in value)  # type: ignore[union-attr]


def load(path: str | Path, *, layout: str = "kinect_v1", name_pattern: str = DEFAULT_PATTERN,
         glob: str = DEFAULT_GLOB, gallery_sessions: object = None, probe_sessions: object = None,
         probe_set_name: str = "default", fps: float = 30.0, min_frames: int = DEFAULT_MIN_FRAMES,
         max_gap: int = DEFAULT_MAX_GAP) -> SkeletonDataset:
    """Read one file or every `glob` file under a folder.

    Args:
        layout: joint order of the numbers (reid.skeleton layout name).
        name_pattern: regex searched in the file name; groups `identity` and `session` (session optional).
        gallery_sessions, probe_sessions: session names (list or comma-separated) forming one probe set;
            with neither, the dataset has no probe set. The same sessions on both sides make a `same_set` split.
    Raises:
        DatasetError: a missing or empty folder, no usable file (names not matching the pattern are skipped
            and counted), or a bad file.
    """
    source = Path(path)
    layout_obj = get_layout(layout)
    try:
        pattern = re.compile(name_pattern)
    except re.error as exc:
        raise DatasetError(f"kinect-txt: name_pattern {name_pattern!r} is not a valid regex ({exc})") from None
    if "identity" not in pattern.groupindex:
        raise DatasetError(f"kinect-txt: name_pattern {name_pattern!r} needs a (?P<identity>...) group")
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(p for p in source.rglob(glob) if p.is_file())  # a folder named like a file is not one
    else:
        raise DatasetError(f"kinect-txt: {source} does not exist; give a skeleton .txt file or a folder of them")
    if not files:
        raise DatasetError(f"kinect-txt: no {glob} files under {source}; expected one text skeleton file per "
                           f"sequence named like 'person01_walk1.txt'")
    report = RepairReport()
    sequences: list[Sequence] = []
    for file in files:
        match = pattern.search(file.name)
        if match is None:  # e.g. a README.txt next to the data: counted, not fatal
            report.skip(str(file), f"file name does not match name_pattern {name_pattern!r}")
            continue
        if file.stat().st_size == 0:
            report.skip(str(file), "empty file (0 bytes)")
            continue
        session = match.groupdict().get("session") or ""
        name = str(file.relative_to(source)) if source.is_dir() else file.name
        joints = repair_sequence(read_skeleton_text(file, layout_obj), name, report, max_gap=max_gap,
                                 min_frames=min_frames)
        if joints is not None:
            sequences.append(Sequence(to_canonical(joints, layout_obj, str(file)), match.group("identity"), name,
                                      session, fps, session=session))
    if not sequences:
        raise DatasetError(f"kinect-txt: no usable sequence under {source} ({report.summary()}; first skipped: "
                           f"{report.skipped[0] if report.skipped else 'none'}); check name_pattern and layout")
    probe_sets = _probe_sets(sequences, _sessions(gallery_sessions), _sessions(probe_sessions), probe_set_name)
    logger.info("kinect-txt %s: %d sequences; %s", source, len(sequences), report.summary())
    return SkeletonDataset(f"kinect-txt({source.name})", "kinect_v1", sequences, probe_sets,
                           tuple(range(len(sequences))), report)


def _probe_sets(sequences: list[Sequence], gallery: tuple[str, ...], probe: tuple[str, ...],
                name: str) -> list[ProbeSet]:
    if not gallery and not probe:
        return []
    if not gallery or not probe:
        raise DatasetError("kinect-txt: give both gallery_sessions and probe_sessions (or neither)")
    present = sorted({s.condition for s in sequences})
    missing = [s for s in (*gallery, *probe) if s not in present]
    if missing:
        raise DatasetError(f"kinect-txt: session(s) {', '.join(missing)} not found; sessions present: "
                           f"{', '.join(present)}")
    gallery_idx = tuple(i for i, s in enumerate(sequences) if s.condition in gallery)
    probe_idx = tuple(i for i, s in enumerate(sequences) if s.condition in probe)
    return [ProbeSet(name, probe_idx, gallery_idx, same_set=set(gallery) == set(probe))]
