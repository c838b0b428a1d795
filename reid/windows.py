"""Cut sequences into f-frame windows, root-centred per frame: the samples the model sees (spec §1.1, §3).

Test samples use stride = f (non-overlapping, start offset 0); training may overlap (stride < f). A sequence
shorter than f gives no window and is counted, never silently lost.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence as Seq

import numpy as np

from reid.datasets.base import Sequence
from reid.errors import DatasetError
from reid.skeleton import ROOT_JOINT, root_centre

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)  # holds arrays: no field-wise ==
class Windows:
    """Windows and where each came from.

    `sequence_index[n]` indexes the `sequences` list given to `make_windows` and `start[n]` is the window's
    first frame in that sequence; `too_short` lists the sequences that gave no window.
    """

    data: np.ndarray  # (N, f, V, 3) float32, root-centred per frame
    sequence_index: np.ndarray  # (N,) int64
    start: np.ndarray  # (N,) int64
    frames: int
    stride: int
    too_short: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.data.shape[0])


def window_starts(num_frames: int, frames: int, stride: int) -> np.ndarray:
    """First frames of every complete window: 0, stride, 2*stride, ... while the window fits."""
    if num_frames < frames:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, num_frames - frames + 1, stride, dtype=np.int64)


def make_windows(sequences: Seq[Sequence], frames: int, stride: int | None = None,
                 root: int = ROOT_JOINT) -> Windows:
    """Every complete f-frame window of every sequence, each frame centred on joint `root`.

    Args:
        sequences: sequences with (T, V, 3) joints, all with the same V.
        frames: window length f.
        stride: frames between window starts; None or f gives non-overlapping windows (probe/gallery).
        root: the joint subtracted per frame (index 0: HipCenter/SpineBase; the head for 14-joint data).
    Returns:
        Windows; `data` is (0, f, V, 3) when no sequence is long enough.
    Raises:
        DatasetError: frames or stride below 1, or sequences with different joint counts.
    """
    stride = frames if stride is None else stride
    if frames < 1 or stride < 1:
        raise DatasetError(f"windows: frames={frames}, stride={stride}; both must be at least 1")
    joint_counts = {s.joints.shape[1] for s in sequences}
    if len(joint_counts) > 1:
        raise DatasetError(f"windows: sequences have different joint counts {sorted(joint_counts)}; "
                           f"map them to one layout first (reid.skeleton.to_canonical)")
    num_joints = joint_counts.pop() if joint_counts else 20
    parts, seq_index, starts, too_short = [], [], [], []
    for i, sequence in enumerate(sequences):
        first = window_starts(sequence.num_frames, frames, stride)
        if first.size == 0:
            too_short.append(i)
            continue
        offsets = first[:, None] + np.arange(frames)[None, :]  # (n, f)
        parts.append(sequence.joints[offsets])  # (n, f, V, 3)
        seq_index.append(np.full(first.size, i, dtype=np.int64))
        starts.append(first)
    if too_short:
        logger.info("%d of %d sequences are shorter than %d frames and give no window",
                    len(too_short), len(sequences), frames)
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Windows(np.zeros((0, frames, num_joints, 3), np.float32), empty, empty.copy(), frames, stride,
                       tuple(too_short))
    data = root_centre(np.concatenate(parts), root)
    return Windows(data.astype(np.float32, copy=False), np.concatenate(seq_index), np.concatenate(starts),
                   frames, stride, tuple(too_short))


def window_identities(windows: Windows, sequences: Seq[Sequence]) -> np.ndarray:
    """(N,) identity label of every window, for evaluation only (training never reads labels)."""
    return np.array([sequences[i].identity for i in windows.sequence_index], dtype=object)
