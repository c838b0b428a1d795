"""Value types every dataset reader returns: sequences, probe/gallery splits and the repair report.

Kept apart from the readers so that `reid.synthetic` and each format module can build a `SkeletonDataset`
without importing one another.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reid.errors import DatasetError


@dataclass(frozen=True, eq=False)
class Sequence:
    """One continuous recording of one person.

    `joints` is (T, V, 3) float32 metres in the camera frame, NOT root-centred (windows centre it).
    `identity` is the ground truth; training never reads it. Compared by identity of the object (eq=False):
    a field-wise == would compare arrays elementwise and fail.
    """

    joints: np.ndarray  # (T, V, 3)
    identity: str
    name: str  # e.g. "sub3/Run2"
    condition: str = ""  # e.g. "normal", "limp"
    fps: float = 30.0
    # The recording session (camera visit) it belongs to, when the data says so; "" means the sequence is its
    # own session. Evaluation never matches a probe to the gallery entries of its own identity and session.
    session: str = ""

    @property
    def session_id(self) -> str:
        """The session evaluation compares: `session`, or the sequence's own name when none is given."""
        return self.session or self.name

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


@dataclass(frozen=True)
class ProbeSet:
    """One evaluation setting: indices into `SkeletonDataset.sequences`.

    `same_set` marks single-condition settings where probe and gallery are the same sequences, so a probe's
    own entry must be skipped when ranking (spec §3, CASIA-B nm.nm).
    """

    name: str
    probe: tuple[int, ...]
    gallery: tuple[int, ...]
    same_set: bool = False


@dataclass
class RepairReport:
    """What a reader dropped or repaired, so nothing is silent.

    Counts are in frames and joint-frames (one joint in one frame); `skipped` lists (file or sequence, reason).
    """

    frames_read: int = 0
    frames_dropped: int = 0
    frames_repaired: int = 0
    joints_repaired: int = 0
    sequences_dropped: int = 0
    files_skipped: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, what: str, reason: str, *, is_file: bool = True) -> None:
        """Record one skipped file (or dropped sequence when `is_file` is False) with its reason."""
        if is_file:
            self.files_skipped += 1
        else:
            self.sequences_dropped += 1
        self.skipped.append((what, reason))

    def merge(self, other: RepairReport) -> None:
        """Add another report's counts and reasons to this one."""
        self.frames_read += other.frames_read
        self.frames_dropped += other.frames_dropped
        self.frames_repaired += other.frames_repaired
        self.joints_repaired += other.joints_repaired
        self.sequences_dropped += other.sequences_dropped
        self.files_skipped += other.files_skipped
        self.skipped.extend(other.skipped)

    @property
    def clean(self) -> bool:
        """True when nothing was dropped, repaired or skipped."""
        return not (self.frames_dropped or self.frames_repaired or self.sequences_dropped or self.files_skipped)

    def summary(self) -> str:
        """One line for the log or the CLI."""
        return (f"{self.frames_read} frames read, {self.frames_dropped} dropped, {self.frames_repaired} repaired "
                f"({self.joints_repaired} joint-frames interpolated), {self.sequences_dropped} sequences dropped, "
                f"{self.files_skipped} files skipped")


@dataclass
class SkeletonDataset:
    """A loaded dataset: sequences, evaluation splits and the unlabelled training indices.

    `layout` names the reid.skeleton layout the sequences are stored in ("kinect_v1" after mapping).
    `windowed` is True for data that comes already cut into f-frame windows (the authors' .npy files).
    """

    name: str
    layout: str
    sequences: list[Sequence]
    probe_sets: list[ProbeSet]
    train: tuple[int, ...]
    report: RepairReport
    windowed: bool = False

    def probe_set(self, name: str) -> ProbeSet:
        """Look a probe set up by name; the error lists the valid names."""
        for probe_set in self.probe_sets:
            if probe_set.name == name:
                return probe_set
        valid = ", ".join(p.name for p in self.probe_sets) or "none"
        raise DatasetError(f"dataset {self.name!r} has no probe set {name!r}; valid: {valid}")

    @property
    def identities(self) -> list[str]:
        """Sorted distinct identity labels (for evaluation and reports only)."""
        return sorted({s.identity for s in self.sequences})
