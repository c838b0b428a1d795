"""Why a track was matched: its gallery neighbours and which of its frames weighed most (Qt-free, run off-thread).

The selected track's recent joints (kept by `ui.state.TrackBook`) are cut into f-frame windows, encoded with the
pipeline's model and ranked against the gallery (`Gallery.match`, top-k identities with per-level distances).
Frame importance is occlusion-style: each frame of the newest window is replaced by its neighbour and the window
re-encoded; the rise in distance to the best identity says how much that frame carried the match. This was
chosen over reading the model's internal HSM weights because it explains the *match* (distance to a person),
not the training loss, and it works for any encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from capture.buffer import camera_to_model
from reid.skeleton import root_centre
from storage.gallery import Gallery
from storage.matching import Candidate


@dataclass(frozen=True)
class Explanation:
    """Top-k neighbours of the track's newest window, its per-frame importance and per-window distances."""

    track_id: int
    neighbours: tuple[Candidate, ...]
    frame_times_s: np.ndarray       # (f,) media time of each frame of the newest window
    frame_importance: np.ndarray    # (f,) >= 0, sums to 1 (all zero when nothing to compare with)
    window_times_s: np.ndarray      # (N,) end time of each window
    window_distances: np.ndarray    # (N,) distance of each window to the best identity (nan without one)


def cut_windows(history: Sequence[tuple[float, np.ndarray]], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The newest non-overlapping windows of a joint history.

    Args:
        history: (t_s, (20, 3) camera-frame joints) per frame, oldest first.
    Returns:
        windows (N, f, 20, 3) float32 model convention, root-centred; and their frame times (N, f).
    """
    n = len(history) // frames
    if n == 0:
        return np.zeros((0, frames, 20, 3), np.float32), np.zeros((0, frames))
    recent = list(history)[len(history) - n * frames:]
    joints = camera_to_model(np.stack([j for _, j in recent]))  # (n f, 20, 3)
    times = np.array([t for t, _ in recent]).reshape(n, frames)
    return root_centre(joints).reshape(n, frames, 20, 3).astype(np.float32), times


def explain_track(track_id: int, history: Sequence[tuple[float, np.ndarray]], frames: int,
                  encode: Callable[[np.ndarray], np.ndarray], gallery: Gallery | None, k: int) -> Explanation:
    """Neighbours and frame importance for one track (see the module docstring).

    Args:
        encode: (B, f, 20, 3) windows -> (B, D) embeddings.
        gallery: None gives an explanation without neighbours.
    """
    windows, times = cut_windows(history, frames)
    empty = np.zeros(0)
    if len(windows) == 0:
        return Explanation(track_id, (), empty, empty, empty, empty)
    last = windows[-1]
    occluded = np.repeat(last[None], frames, axis=0)  # (f, f, 20, 3): frame t replaced by its neighbour
    for t in range(frames):
        occluded[t, t] = last[t - 1] if t > 0 else last[1]
    vectors = np.asarray(encode(np.concatenate([windows, occluded])), dtype=np.float32)  # (N + f, D)
    window_vecs, occluded_vecs = vectors[: len(windows)], vectors[len(windows):]
    neighbours: tuple[Candidate, ...] = ()
    importance = np.zeros(frames)
    distances = np.full(len(windows), np.nan)
    if gallery is not None and len(gallery.index):
        neighbours = gallery.match(window_vecs[-1], k=k).candidates
    if neighbours:
        best = gallery.vectors([neighbours[0].embedding_id])[0]  # (D,)
        distances = np.linalg.norm(window_vecs - best, axis=1)
        rise = np.abs(np.linalg.norm(occluded_vecs - best, axis=1) - distances[-1])
        importance = rise / rise.sum() if rise.sum() > 0 else importance
    return Explanation(track_id, neighbours, times[-1], importance, times[:, -1], distances)
