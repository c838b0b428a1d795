"""Tracking on real footage and tracking speed: vtest.avi scored against its labelled tracks, and the per-frame
cost of tracking + window buffer + encoder at 10 people.

    python bench/tracking.py                 # the stored skeletons (tests/data/vtest_tracks/skeletons.npz)
    python bench/tracking.py --video         # pose run on vtest.avi first (minutes), the same path replay takes
    python bench/tracking.py --store         # --video, then rewrite the stored skeletons
    python bench/tracking.py --appearance    # rewrite the stored skeletons with signatures read off the video

Quality figures: confirmed tracks (whole clip, and those seen in the labelled frames against the labelled
people), IDF1 / MOTA / ID switches / fragmentations (py-motmetrics, IoU >= 0.5, each of the two labelled
sequences scored as its own: see `tests.capture.vtest_data.mot_scores`), the share of labelled
person-frames inside an encoded window of the track that covers them, windows made with the default buffer.
The baseline in the same process is the tracker with its metric 3D gates (what replay did before).
Speed: a synthetic 10-person scene at 30 fps through tracker + buffer + the shipped encoder (every window,
batched every 3 frames as the pipeline does), ms per frame, against the metric path as the same-process
baseline. Prints `RESULT key=value ...`.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from capture.stats import accounting_lines
from tests.capture import vtest_data
from tests.shared_data import shared_path


def run_pose(video: str) -> list:
    """(index, timestamp, skeletons) of every frame, through the pose estimator replay uses."""
    from app.compose import estimator_factory
    from app.config import load_config
    from capture.sources import open_source

    frames = []
    with open_source(video) as source, estimator_factory(load_config(None))() as estimator:
        for bundle in source:
            frames.append((bundle.index, bundle.timestamp_s, list(estimator.estimate(bundle))))
    return frames


def quality(frames: list, metric: bool) -> dict[str, float]:
    tracker, buffer, boxes, windows = vtest_data.track_clip(frames, metric=metric)
    gt = np.loadtxt(vtest_data.GROUND_TRUTH, delimiter=",")
    labelled = {int(f) - 1 for f in gt[:, 0]}
    scores = vtest_data.mot_scores(boxes)
    name = "3D gates (baseline)" if metric else "image association"
    print(f"--- {name}")
    for line in accounting_lines(tracker.stats, buffer.stats):
        print("  " + line)
    out = {"confirmed": len({i for f in boxes.values() for i in f}),
           "confirmed_labelled": len({i for f, b in boxes.items() if f in labelled for i in b}),
           "people": len(set(gt[:, 1].astype(int))), "windows": len(windows),
           "in_window": vtest_data.labelled_in_window(boxes, windows), **scores}
    print(f"  confirmed tracks {out['confirmed']} (in the labelled frames {out['confirmed_labelled']} for "
          f"{out['people']} labelled people), windows {out['windows']}, IDF1 {out['idf1']:.3f}, MOTA "
          f"{out['mota']:.3f}, ID switches {out['num_switches']:.0f}, fragmentations "
          f"{out['num_fragmentations']:.0f}, labelled person-frames in a window {out['in_window']:.3f}")
    return out


def small_people(frames: list, boxes: dict) -> None:
    """On the hand-labelled frames (vtest_people.json): how many people under 80 px tall get a skeleton (pose box
    IoU >= 0.5) and a confirmed track, against the taller ones."""
    import json

    skeleton_boxes = {index: {k: s.box for k, s in enumerate(sk) if s.box is not None} for index, _, sk in frames}
    counts = {"< 80 px": [0, 0, 0], ">= 80 px": [0, 0, 0]}
    for frame in json.loads(vtest_data.HAND_LABELS.read_text())["frames"]:
        truth = np.array(frame["boxes"], np.float64).reshape(-1, 4)
        posed = {r for r, _ in vtest_data.matched(truth, skeleton_boxes.get(frame["index"], {}))}
        tracked = {r for r, _ in vtest_data.matched(truth, boxes.get(frame["index"], {}))}
        for r, box in enumerate(truth):
            row = counts["< 80 px" if box[3] - box[1] < 80 else ">= 80 px"]
            row[0] += 1
            row[1] += r in posed
            row[2] += r in tracked
    for name, (n, posed, tracked) in counts.items():
        print(f"  hand-labelled people {name} tall: {n}, with a skeleton {posed} ({posed / max(n, 1):.0%}), "
              f"on a confirmed track {tracked} ({tracked / max(n, 1):.0%})")


def speed(metric: bool, encode) -> float:
    """Thread-CPU ms per frame of tracker + buffer + encoder on a synthetic 10-person scene (30 fps, 20 s)."""
    from app.compose import buffer_factory, tracker_factory
    from app.config import load_config
    from capture.frames import Skeleton3D
    from reid.synthetic import make_identities, scene_tracks

    fps, seconds = 30.0, 20.0
    people = scene_tracks(10, seconds, fps, seed=5, identities=make_identities(10, 5))
    frames = []
    for frame in range(int(seconds * fps)):
        dets = []
        for person in people:
            i = frame - person.start_frame
            if 0 <= i < len(person.joints):
                joints = person.joints[i] * np.float32([-1, -1, 1])
                dets.append(Skeleton3D(joints=joints, confidence=np.ones(20, np.float32),
                                       box=(100.0 + 10 * i % 400, 100.0, 140.0 + 10 * i % 400, 250.0),
                                       timestamp_s=frame / fps, frame_index=frame))
        frames.append(dets)
    config = load_config(None)
    tracker, buffer = tracker_factory(config)(), buffer_factory(config, config.model.frames)()
    start = time.thread_time()  # this thread's CPU: the stages' own cost even on a loaded machine
    for frame, dets in enumerate(frames):
        buffer.update(tracker.update(dets, frame / fps, metric=metric), tracker.pop_events())
        if frame % 3 == 2 and buffer.pending:
            encode(np.stack([w.data for w in buffer.drain(10_000)]))
    return 1000.0 * (time.thread_time() - start) / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", action="store_true", help="run pose on vtest.avi instead of the stored skeletons")
    parser.add_argument("--store", action="store_true", help="with pose run, rewrite the stored skeletons")
    parser.add_argument("--appearance", action="store_true",
                        help="recompute the stored skeletons' clothing signatures from the video and rewrite them")
    args = parser.parse_args()
    if args.video or args.store:
        start = time.perf_counter()
        frames = run_pose(str(shared_path("opencv-vtest", "vtest.avi")))
        print(f"pose over {len(frames)} frames in {time.perf_counter() - start:.0f} s")
        if args.store:
            vtest_data.store(frames)
    else:
        frames = vtest_data.load()
        if args.appearance:
            frames = vtest_data.add_appearance(frames, str(shared_path("opencv-vtest", "vtest.avi")))
            vtest_data.store(frames)
    before, after = quality(frames, metric=True), quality(frames, metric=False)
    small_people(frames, vtest_data.track_clip(frames)[2])

    import torch

    from app.compose import encoder_factory, load_encoder
    from app.config import load_config, with_changes

    config = with_changes(load_config(None), {"pipeline.device": "cpu", "pipeline.threads": 1})
    encode = encoder_factory(load_encoder(config), config)()
    torch.set_num_threads(1)
    speed(False, encode)  # warm-up
    base_ms, image_ms = speed(True, encode), speed(False, encode)
    print(f"--- speed, 10 people at 30 fps: tracking + buffer + encoder {image_ms:.2f} ms CPU a frame (metric path "
          f"{base_ms:.2f}, ratio {image_ms / base_ms:.2f}); load average {os.getloadavg()[0]:.1f}")
    print(f"RESULT confirmed={after['confirmed']} confirmed_labelled={after['confirmed_labelled']} "
          f"people={after['people']} idf1={after['idf1']:.3f} mota={after['mota']:.3f} "
          f"switches={after['num_switches']:.0f} fragmentations={after['num_fragmentations']:.0f} "
          f"in_window={after['in_window']:.3f} windows={after['windows']} idf1_before={before['idf1']:.3f} "
          f"confirmed_before={before['confirmed']} windows_before={before['windows']} ms_per_frame={image_ms:.2f}")


if __name__ == "__main__":
    main()
