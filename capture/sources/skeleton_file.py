"""A skeleton dataset replayed as a stream: frames with no images and the dataset's skeletons in `truth`.

Whatever `reid.datasets.load_dataset` reads plays here, so the live chain (tracking, windows, re-ID) can run on
benchmark skeletons without pose estimation. One person per sequence. `arrangement="sequential"` plays the
sequences one after another with `gap_s` of empty frames between them (so a tracker closes one track before the
next person appears); `"parallel"` plays them all at once from frame 0, each shifted sideways by `spacing_m`
so they do not overlap.

Dataset skeletons are in skeleton space (Kinect camera space: y up, z forward); the capture camera frame is y
down. They enter it through `to_camera_frame` (the half turn (x, y, z) -> (-x, -y, z), the inverse of
`capture.buffer.camera_to_model`), so the window buffer hands the encoder exactly the dataset's numbers.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from capture.frames import FrameBundle, TruthSkeleton
from capture.sources import GeneratedSource, SourceError
from capture.sources.synthetic import to_camera_frame
from reid.datasets import SkeletonDataset, load_dataset
from reid.errors import DatasetError
from reid.skeleton import to_canonical

logger = logging.getLogger(__name__)
ARRANGEMENTS = ("sequential", "parallel")


class SkeletonFileSource(GeneratedSource):
    """Replays the sequences of a skeleton dataset as `FrameBundle`s with color/depth None."""

    def __init__(self, dataset: str | Path | SkeletonDataset, *, format: str | None = None,
                 arrangement: str = "sequential", sequences: list[int] | None = None, fps: float | None = None,
                 gap_s: float = 1.0, spacing_m: float = 1.5, **load_options: Any) -> None:
        """
        Args:
            dataset: a loaded dataset, or a path/spec for `load_dataset` (with `format` and `load_options`).
            sequences: indices of the sequences to play (default all), in this order.
            fps: playback rate; default the first sequence's own rate.
        Raises:
            SourceError: an unreadable dataset (the reader's message), an unknown arrangement, no sequences.
        """
        if arrangement not in ARRANGEMENTS:
            raise SourceError(f"skeleton source: arrangement={arrangement!r}; valid: {', '.join(ARRANGEMENTS)}")
        if isinstance(dataset, SkeletonDataset):
            data = dataset
        else:
            try:
                data = load_dataset(dataset, format=format, **load_options)
            except DatasetError as exc:
                raise SourceError(f"skeleton source {dataset}: {exc}") from None
        chosen = list(range(len(data.sequences))) if sequences is None else list(sequences)
        bad = [i for i in chosen if not 0 <= i < len(data.sequences)]
        if not chosen or bad:
            raise SourceError(f"skeleton source {data.name}: no sequence to play (asked {sequences}, dataset has "
                              f"{len(data.sequences)}); give indices in [0, {len(data.sequences) - 1}]")
        self._name = f"skeletons:{data.name}"
        self._fps = float(fps or data.sequences[chosen[0]].fps)
        # (start frame, identity, (T, 20, 3) camera-frame joints) per sequence played.
        self._plays: list[tuple[int, str, np.ndarray]] = []
        start, gap = 0, int(round(gap_s * self._fps))
        for slot, i in enumerate(chosen):
            seq = data.sequences[i]
            joints = to_camera_frame(to_canonical(seq.joints, data.layout, seq.name))
            if arrangement == "parallel":
                joints = joints + np.array([(slot - (len(chosen) - 1) / 2.0) * spacing_m, 0.0, 0.0], np.float32)
                self._plays.append((0, seq.identity, joints))
            else:
                self._plays.append((start, seq.identity, joints))
                start += len(joints) + gap
        self._frames = max(s + len(j) for s, _, j in self._plays)
        self._next = 0

    name = property(lambda self: self._name)
    has_depth = property(lambda self: False)
    intrinsics = property(lambda self: None)

    def frame(self, index: int) -> FrameBundle:
        """The bundle of frame `index`; a skeleton whose joints are all missing (NaN or zero) is left out."""
        truth = []
        for start, identity, joints in self._plays:
            k = index - start
            if 0 <= k < len(joints):
                pose = joints[k]
                if np.isfinite(pose).any() and np.abs(np.nan_to_num(pose)).max() > 0:
                    truth.append(TruthSkeleton(identity, pose))
        return FrameBundle(index, index / self._fps, None, None, None, tuple(truth))

