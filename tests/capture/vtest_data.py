"""vtest.avi skeletons stored compactly (tests/data/vtest_tracks/skeletons.npz) and the scores run on them.

The skeletons are what `capture.pose.PoseEstimator` made of every frame of OpenCV's vtest.avi (see
tests/data/vtest_tracks/PROVENANCE.md); storing them lets the tracking guard run in about a second instead of
minutes of pose. `bench/tracking.py --store` rewrites the file from the video.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from capture import appearance
from capture.association import skeleton_box
from capture.boxes import box_iou
from capture.buffer import WindowBuffer
from capture.frames import Skeleton3D
from capture.tracking import Tracker, TrackState

ROOT = Path(__file__).resolve().parents[2]
STORED = ROOT / "tests" / "data" / "vtest_tracks" / "skeletons.npz"
HAND_LABELS = ROOT / "tests" / "data" / "vtest_people.json"
GROUND_TRUTH = ROOT / "tests" / "data" / "vtest_tracks" / "gt.txt"


def store(frames: list[tuple[int, float, list[Skeleton3D]]], path: Path = STORED) -> None:
    """Write per-frame skeletons: joints as float16 metres, confidence as uint8 (1/255 steps), box float32, the
    clothing signature as uint8 (1/255 steps; `has_appearance` says which skeletons have one)."""
    skels = [(i, s) for i, _, ss in frames for s in ss]
    has = np.array([s.appearance is not None for _, s in skels], bool)
    blank = np.zeros(appearance.SIZE, np.float32)
    signatures = np.array([blank if s.appearance is None else s.appearance for _, s in skels])
    np.savez_compressed(
        path, frame_times=np.array([t for _, t, _ in frames], np.float64),
        frame=np.array([i for i, _ in skels], np.int32),
        joints=np.array([s.joints for _, s in skels], np.float16).reshape(-1, 20, 3),
        confidence=np.round(np.array([s.confidence for _, s in skels]).reshape(-1, 20) * 255).astype(np.uint8),
        box=np.array([s.box for _, s in skels], np.float32).reshape(-1, 4),
        appearance=np.round(signatures.reshape(-1, appearance.SIZE) * 255).astype(np.uint8), has_appearance=has)


def load(path: Path = STORED) -> list[tuple[int, float, list[Skeleton3D]]]:
    """(frame index, timestamp s, skeletons) for every frame of the clip, in decoding order."""
    data = np.load(path)
    times = data["frame_times"]
    signatures = data["appearance"] / np.float32(255.0)  # unit length within the rounding
    out: list[tuple[int, float, list[Skeleton3D]]] = [(i, float(t), []) for i, t in enumerate(times)]
    for f, j, c, b, a, has in zip(data["frame"], data["joints"], data["confidence"], data["box"], signatures,
                                  data["has_appearance"]):
        out[f][2].append(Skeleton3D(joints=j.astype(np.float32), confidence=c / np.float32(255.0),
                                    box=tuple(b.tolist()), timestamp_s=float(times[f]), frame_index=int(f),
                                    appearance=a if has else None))
    return out


def add_appearance(frames: list[tuple[int, float, list[Skeleton3D]]], video: str
                   ) -> list[tuple[int, float, list[Skeleton3D]]]:
    """The stored skeletons with the clothing signature pose gives them (`capture.appearance.signature` of each
    box in its frame), read off the video: what `--store` would add, without re-running pose."""
    from capture.sources import open_source

    images = {}
    with open_source(video) as source:
        for bundle in source:
            images[bundle.index] = bundle.color
    return [(i, t, [replace(s, appearance=appearance.signature(images[i], s.box)) for s in skeletons])
            for i, t, skeletons in frames]


def track_clip(frames: list[tuple[int, float, list[Skeleton3D]]], metric: bool = False,
               **tracker_args: float) -> tuple[Tracker, WindowBuffer, dict[int, dict[int, tuple]], list]:
    """Run tracker and buffer (default settings) over the clip as the pipeline does for a colour-only video.

    Returns:
        The tracker and buffer (with their stats), {frame: {confirmed track id: box}}, and every window.
    """
    tracker, buffer = Tracker(**tracker_args), WindowBuffer()
    boxes: dict[int, dict[int, tuple]] = {}
    windows = []
    for index, t, skeletons in frames:
        updates = tracker.update(skeletons, t, metric=metric)
        buffer.update(updates, tracker.pop_events())
        windows += buffer.drain(10_000)
        boxes[index] = {u.track_id: tuple(box) for u in updates  # a person wholly outside the image has no box
                        if u.state is TrackState.CONFIRMED and u.skeleton is not None
                        and np.isfinite(box := skeleton_box(u.skeleton, 0.0)).all()}
    for track_id in buffer.track_ids:
        buffer.end(track_id)
    windows += buffer.drain(10_000)
    return tracker, buffer, boxes, windows


def matched(truth: np.ndarray, hyp: dict[int, tuple]) -> list[tuple[int, int]]:
    """(truth row, track id) pairs: one-to-one by box IoU >= 0.5; truth (N, 4) x0, y0, x1, y1."""
    if not hyp or not len(truth):
        return []
    ids = list(hyp)
    iou = box_iou(truth, np.array([hyp[i] for i in ids]))
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), ids[c]) for r, c in zip(rows, cols) if iou[r, c] >= 0.5]


def _window_spans(windows: list) -> dict[int, list[tuple[int, int]]]:
    spans: dict[int, list[tuple[int, int]]] = {}
    for w in windows:
        spans.setdefault(w.track_id, []).append((int(w.frame_indices[0]), int(w.frame_indices[-1])))
    return spans


def hand_label_coverage(boxes: dict[int, dict[int, tuple]], windows: list) -> tuple[float, float, int]:
    """On the hand-labelled frames (tests/data/vtest_people.json, made without any detector): the share of
    labelled people a confirmed track covers (box IoU >= 0.5, one track per person) and the share whose frame
    lies inside an encoded window of that track.

    Returns:
        (tracked share, in-window share, labelled people).
    """
    labels = json.loads(HAND_LABELS.read_text())["frames"]
    spans = _window_spans(windows)
    total = tracked = in_window = 0
    for frame in labels:
        truth = np.array(frame["boxes"], np.float64).reshape(-1, 4)
        total += len(truth)
        for _, track_id in matched(truth, boxes.get(frame["index"], {})):
            tracked += 1
            in_window += any(a <= frame["index"] <= b for a, b in spans.get(track_id, ()))
    return tracked / total, in_window / total, total


def labelled_in_window(boxes: dict[int, dict[int, tuple]], windows: list, truth: Path | None = None) -> float:
    """Share of the labelled person-frames (gt.txt) matched by a confirmed track with an encoded window spanning
    that frame: how much of the people in view reaches the encoder."""
    gt = np.loadtxt(truth or GROUND_TRUTH, delimiter=",", ndmin=2)
    spans = _window_spans(windows)
    inside = 0
    for frame in sorted({int(f) - 1 for f in gt[:, 0]}):
        rows = gt[gt[:, 0] == frame + 1]
        xyxy = np.c_[rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]
        inside += sum(any(a <= frame <= b for a, b in spans.get(track_id, ()))
                      for _, track_id in matched(xyxy, boxes.get(frame, {})))
    return inside / len(gt)



def mot_scores(boxes: dict[int, dict[int, tuple]], truth: Path = GROUND_TRUTH) -> dict[str, float]:
    """IDF1, MOTA, ID switches, fragmentations (py-motmetrics, box IoU >= 0.5) of confirmed-track boxes against
    the labelled tracks (MOTChallenge text, frames 1-based), over the labelled frames only.

    The labels are two sequences, frames 1-301 and 351-491, whose people carry unrelated ids (the labeller could
    not follow them through the crowd between, see PROVENANCE.md), so each is scored as its own sequence, as
    MOTChallenge scores its sequences, and the figures are motmetrics' overall ones. Scored as one, a track that
    rightly keeps a person through the gap would count against IDF1 on one side of it, and one that wrongly
    loses them would not."""
    import motmetrics as mm

    gt = np.loadtxt(truth, delimiter=",", ndmin=2)
    frames = sorted({int(f) - 1 for f in gt[:, 0]})
    starts = [0] + [k for k in range(1, len(frames)) if frames[k] != frames[k - 1] + 1] + [len(frames)]
    accumulators = []
    for first, last in zip(starts, starts[1:]):
        acc = mm.MOTAccumulator(auto_id=True)
        for frame in frames[first:last]:
            rows = gt[gt[:, 0] == frame + 1]
            hyp = boxes.get(frame, {})
            hyp_boxes = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in hyp.values()]).reshape(-1, 4)
            acc.update(rows[:, 1].astype(int).tolist(), list(hyp),
                       mm.distances.iou_matrix(rows[:, 2:6], hyp_boxes, max_iou=0.5))
        accumulators.append(acc)
    summary = mm.metrics.create().compute_many(
        accumulators, metrics=["idf1", "mota", "num_switches", "num_fragmentations", "num_objects", "recall",
                               "precision"], names=[f"segment{k}" for k in range(len(accumulators))],
        generate_overall=True)
    return {k: float(v) for k, v in summary.loc["OVERALL"].items()}
