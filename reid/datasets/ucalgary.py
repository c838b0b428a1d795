"""UCalgary "Normal & Abnormal Gait" Kinect v2 skeletons (Kozlow, Abid, Yanushkevich, IEEE SSCI 2017).

Folder layout `subN/RunK/*GeometricPositions*.csv`: a header row, then one row per frame whose first 54
numbers are 18 joints x (X, Y, Z) metres in the `ucalgary18` order (the header repeats "Y", "Z", so columns
are addressed by position). Runs 1-2 walk normally, 3-4 with a simulated right-leg limp, 5-6 left-leg;
Run7 is experimental and ignored as the authors ask. Probe sets (identities may be any subset):
  normal: gallery Run1, probe Run2.
  limp:   gallery Run1 + Run2, probe Runs 3-6.
Training uses every Run1-6 sequence without labels. Joints are mapped to the canonical 20 (the wrist stands
in for the missing hands; the neck for ShoulderCenter).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets.repair import DEFAULT_MAX_GAP, DEFAULT_MIN_FRAMES, repair_sequence
from reid.errors import DatasetError
from reid.skeleton import UCALGARY_18, to_canonical

logger = logging.getLogger(__name__)

FPS = 30.0
SUBJECT_DIR = re.compile(r"^sub(\d+)$")
RUN_DIR = re.compile(r"^Run(\d+)$")
CONDITIONS = {1: "normal", 2: "normal", 3: "limp-right", 4: "limp-right", 5: "limp-left", 6: "limp-left"}
NUM_VALUES = UCALGARY_18.num_joints * 3  # 54


def _subject_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and SUBJECT_DIR.match(p.name)),
                  key=lambda p: int(SUBJECT_DIR.match(p.name).group(1)))


def find_root(path: str | Path, max_depth: int = 3) -> Path | None:
    """The folder holding the `subN/` folders: `path` itself or the first one below it (breadth first)."""
    start = Path(path)
    level = [start] if start.is_dir() else []
    for _ in range(max_depth + 1):
        for folder in level:
            if _subject_dirs(folder):
                return folder
        level = sorted(child for folder in level for child in folder.iterdir() if child.is_dir())
    return None


def detect(path: str | Path) -> bool:
    """True when `path` is (or holds) a folder of `subN/RunK/` folders."""
    try:
        return find_root(path) is not None
    except OSError:
        return False


def read_positions(csv_path: Path) -> np.ndarray:
    """(T, 18, 3) float32 joints of one GeometricPositions file; T may be 0 for a header-only file.

    Raises:
        DatasetError: naming the file when a row has fewer than 54 numbers or a value is not a number.
    """
    try:
        rows = [line for line in csv_path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    except UnicodeDecodeError:
        raise DatasetError(f"{csv_path}: not a text CSV file; expected a GeometricPositions CSV") from None
    if not rows:  # header only: counted as a sequence with no usable frame by the caller
        return np.zeros((0, UCALGARY_18.num_joints, 3), np.float32)
    try:
        values = np.loadtxt(rows, delimiter=",", usecols=range(NUM_VALUES), ndmin=2, dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise DatasetError(f"{csv_path}: not a UCalgary GeometricPositions table ({exc}); expected a header row "
                           f"then rows of at least {NUM_VALUES} comma-separated numbers") from None
    return values.reshape(values.shape[0], UCALGARY_18.num_joints, 3).astype(np.float32)


def _run_file(run_dir: Path, report: RepairReport) -> Path | None:
    """The run's GeometricPositions file, or None (recorded in the report) when missing or empty."""
    files = sorted(p for p in run_dir.glob("*GeometricPositions*.csv") if p.is_file())  # not a folder so named
    if not files:
        report.skip(str(run_dir), "no *GeometricPositions*.csv file in the run folder")
        return None
    if len(files) > 1:
        raise DatasetError(f"{run_dir}: {len(files)} GeometricPositions files; expected one per run")
    if files[0].stat().st_size == 0:
        report.skip(str(files[0]), "empty file (0 bytes)")
        return None
    return files[0]


def load(path: str | Path, *, min_frames: int = DEFAULT_MIN_FRAMES, max_gap: int = DEFAULT_MAX_GAP,
         **options: object) -> SkeletonDataset:
    """Read every subject and run under `path` (the dataset folder or any folder holding `subN/`).

    Raises:
        DatasetError: a missing folder, no `subN/` folder, an unknown option, or an unreadable file.
    """
    if options:
        raise DatasetError(f"ucalgary: unknown option(s) {', '.join(options)}; valid: min_frames, max_gap")
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"ucalgary: {folder} is not a folder; give the dataset folder holding subN/RunK/")
    root = find_root(folder)
    if root is None:
        raise DatasetError(f"ucalgary: no subN/ folders under {folder}; expected subN/RunK/*GeometricPositions*.csv")
    report = RepairReport()
    sequences: list[Sequence] = []
    runs: dict[tuple[str, int], int] = {}
    for subject_dir in _subject_dirs(root):
        run_dirs = [p for p in subject_dir.iterdir() if p.is_dir() and RUN_DIR.match(p.name)]
        for run_dir in sorted(run_dirs, key=lambda p: int(RUN_DIR.match(p.name).group(1))):
            run = int(RUN_DIR.match(run_dir.name).group(1))
            if run not in CONDITIONS:
                logger.debug("%s: run %d is not part of the protocol (Run7 is experimental); ignored", run_dir, run)
                continue
            csv_path = _run_file(run_dir, report)
            if csv_path is None:
                continue
            name = f"{subject_dir.name}/{run_dir.name}"
            raw = read_positions(csv_path)
            joints = repair_sequence(raw, name, report, max_gap=max_gap, min_frames=min_frames)
            if joints is None:
                continue
            runs[(subject_dir.name, run)] = len(sequences)
            sequences.append(Sequence(to_canonical(joints, UCALGARY_18, str(csv_path)), subject_dir.name, name,
                                      CONDITIONS[run], FPS))
    if not sequences:
        raise DatasetError(f"ucalgary: no usable sequence under {root} ({report.summary()})")
    logger.info("ucalgary %s: %d sequences; %s", root, len(sequences), report.summary())
    return SkeletonDataset(f"ucalgary({root.name})", "kinect_v1", sequences, _probe_sets(runs),
                           tuple(range(len(sequences))), report)


def _probe_sets(runs: dict[tuple[str, int], int]) -> list[ProbeSet]:
    """`normal` and `limp` splits; a probe whose identity has no gallery sequence is left out."""
    def pick(run_numbers: tuple[int, ...], subjects: set[str] | None = None) -> tuple[int, ...]:
        return tuple(i for (subject, run), i in sorted(runs.items(), key=lambda kv: kv[1])
                     if run in run_numbers and (subjects is None or subject in subjects))

    def subjects_of(run_numbers: tuple[int, ...]) -> set[str]:
        return {subject for subject, run in runs if run in run_numbers}

    out = []
    for name, gallery_runs, probe_runs in (("normal", (1,), (2,)), ("limp", (1, 2), (3, 4, 5, 6))):
        gallery = pick(gallery_runs)
        probe = pick(probe_runs, subjects_of(gallery_runs))
        unmatched = subjects_of(probe_runs) - subjects_of(gallery_runs)
        if unmatched:
            logger.warning("ucalgary probe set %s: %s have no gallery run, so their probes are left out",
                           name, ", ".join(sorted(unmatched)))
        if gallery and probe:
            out.append(ProbeSet(name, probe, gallery))
    return out
