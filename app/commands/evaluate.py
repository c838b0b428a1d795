"""`evaluate`: Rank-k, CMC, mAP and mINP of a checkpoint on a dataset's probe sets, beside the baselines."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from app.commands.train import add_dataset_arguments, reader_options
from app.config import SkelwatchConfig, with_changes
from reid.errors import DatasetError

if TYPE_CHECKING:  # torch and the evaluation stack load when the command runs, not for --help
    from reid.checkpoint import ModelMeta
    from reid.datasets.base import SkeletonDataset
    from reid.evaluate import Metrics
    from reid.model import HiMPC
    from storage.matching import Calibration


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="measure a checkpoint's re-ID accuracy on a labelled dataset",
        description="Euclidean nearest-neighbour retrieval on MSMR features. Prints a table (the model, a "
        "random-init encoder and the training-free baselines, on the same split) and writes JSON.")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a run folder (uses best/) or checkpoint")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder, or 'synthetic'")
    add_dataset_arguments(parser)
    parser.add_argument("--protocol", choices=["clean", "legacy"], default=None,
                        help="clean: whole probe and gallery, no self-matches (default); legacy: the official code")
    parser.add_argument("--probe-set", action="append", default=None, help="only this probe set (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="write the model's metrics as JSON here")
    parser.add_argument("--no-baselines", action="store_true", help="skip the random-init and baseline rows")
    parser.add_argument("--calibrate", type=float, nargs="?", const=0.01, default=None, metavar="FAR",
                        help="also find the match distance at this window false-accept rate (default 0.01) on the "
                        "dataset's labelled windows and store it in the checkpoint's model.json: the app's match "
                        "threshold whenever gallery.accept_distance is not set")
    parser.add_argument("--calibrate-handoff", type=float, nargs="?", const=0.02, default=None, metavar="FAR",
                        help="also find the hand-off distance at this false-accept rate per pair of tracks (default "
                        "0.02: a track's mean window against the nearest window of another track, each sequence a "
                        "track) and store it in model.json: how far a new track may be from one that left another "
                        "camera when their time apart fits the learned transit time (handoff.timed_accept_distance)")
    parser.add_argument("--fit-shape-weight", action="store_true",
                        help="first choose the weight of the body-shape term (mean bone lengths appended to the "
                        "MSMR) that retrieves best on this labelled dataset, and store it in the checkpoint's "
                        "model.json (a new model version); pick a dataset the model was not trained on")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    import torch

    from app.compose import new_model
    from reid.baseline import BASELINES
    from reid.checkpoint import load_model
    from reid.datasets import load_dataset
    from reid.evaluate import format_table
    from reid.protocol import evaluate_dataset, model_features
    from reid.skeleton import NUM_CANONICAL

    torch.set_num_threads(config.train.threads)
    protocol = args.protocol or config.evaluate.protocol
    dataset = load_dataset(args.data, args.format, **reader_options(args.option))
    model, meta = load_model(args.checkpoint, expect_joints=dataset.sequences[0].joints.shape[1])
    if args.fit_shape_weight:
        model, meta = _fit_shape_weight(model, meta, dataset, args.checkpoint)
    rows: dict[str, Metrics] = {}
    results = evaluate_dataset(model_features(model), dataset, meta.frames, protocol, args.probe_set)
    rows.update({f"{name} | Hi-MPC ({args.checkpoint})": m for name, m in results.items()})
    baselines: dict[str, dict] = {}
    if not args.no_baselines:
        random_model = new_model(with_changes(config, {"model.hidden": meta.hidden, "model.heads": meta.heads,
                                                      "model.align_heading": meta.align_heading}),
                                 meta.num_joints, seed=config.train.seed).with_shape_weight(meta.shape_weight)
        label = "random-init encoder" + (f" (+ shape term, w={meta.shape_weight:g})" if meta.shape_weight else "")
        extractors = {label: model_features(random_model)}
        if meta.num_joints == NUM_CANONICAL:
            extractors.update(BASELINES)
        for label, extract in extractors.items():
            res = evaluate_dataset(extract, dataset, meta.frames, protocol, args.probe_set)
            rows.update({f"{name} | {label}": m for name, m in res.items()})
            baselines[label] = {name: m.to_dict() for name, m in res.items()}
    print(f"{dataset.name}: {dataset.report.summary()}; protocol {protocol}; windows of {meta.frames} frames")
    print(format_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({name: m.to_dict() for name, m in results.items()}, indent=2),
                            encoding="utf-8")
        if baselines:
            args.out.with_suffix(".baselines.json").write_text(json.dumps(baselines, indent=2), encoding="utf-8")
    if args.calibrate is not None or args.calibrate_handoff is not None:
        _calibrate(model, meta, dataset, args.checkpoint, args.calibrate, args.calibrate_handoff, config.train.seed)
    return 0


def _fit_shape_weight(model: HiMPC, meta: ModelMeta, dataset: SkeletonDataset,
                      checkpoint: Path) -> tuple[HiMPC, ModelMeta]:
    """Choose and store the body-shape weight; returns the model as it now is. A calibrated match distance
    was measured without that term, so it is cleared (run --calibrate again, as the printed line says)."""
    from reid.checkpoint import weights_hash, write_meta
    from reid.protocol import fit_shape_weight
    from reid.skeleton import NUM_CANONICAL

    if meta.num_joints != NUM_CANONICAL:
        raise DatasetError(f"--fit-shape-weight needs the canonical {NUM_CANONICAL}-joint layout; "
                           f"{checkpoint} takes {meta.num_joints} joints")
    weight, scores = fit_shape_weight(model, dataset, meta.frames)
    print("shape weight: " + ", ".join(f"{w:g} {score:.1f}" for w, score in scores.items())
          + " (mean of Rank-1 and mAP over the probe sets)")
    fitted = model.with_shape_weight(float(weight))
    same = weight == meta.shape_weight  # else another function: the distances calibrated for it no longer hold
    new = replace(meta, shape_weight=float(weight), model_version=weights_hash(fitted),
                  accept_distance=meta.accept_distance if same else None,
                  handoff_distance=meta.handoff_distance if same else None)
    write_meta(checkpoint, new)
    print(f"shape weight {weight:g} written to {checkpoint} (model version {new.model_version})"
          + ("" if new.accept_distance else "; calibrate its distances with --calibrate and --calibrate-handoff"))
    return fitted, new


def _checked(calibrate: Callable[[], Calibration], what: str) -> Calibration:
    """Run a calibration; its ValueError becomes one DatasetError line, and its warnings are printed."""
    try:
        cal = calibrate()
    except ValueError as exc:
        raise DatasetError(f"cannot calibrate {what}: {exc}") from None
    for warning in cal.warnings:
        print(f"WARNING: {warning}")
    return cal


def _calibrate(model: HiMPC, meta: ModelMeta, dataset: SkeletonDataset, checkpoint: Path,
               window_far: float | None, handoff_far: float | None, seed: int) -> None:
    """Store the distances asked for, from one encoding of the dataset's windows:
    - `window_far`: the match distance at which that share of impostor windows would be accepted, measured on every
      identity; its false rejects are of windows matched against the person's other sequences (a later visit);
    - `handoff_far`: the hand-off distance at which that share of the pairs of two people's tracks (sequences)
      would be taken for one person; its false rejects are of a person's other tracks."""
    from reid.checkpoint import write_meta
    from reid.protocol import model_features
    from reid.windows import make_windows, window_identities
    from storage.matching import calibrate_threshold, calibrate_track_pairs

    windows = make_windows(dataset.sequences, meta.frames)
    ids = window_identities(windows, dataset.sequences)
    features = model_features(model)(windows.data)
    measured = []
    if window_far is not None:
        cal = _checked(lambda: calibrate_threshold(features, ids, groups=windows.sequence_index,
                                                   target_far=window_far, seed=seed), f"on {dataset.name}")
        meta = replace(meta, accept_distance=round(cal.accept_distance, 4))
        measured.append(f"match distance {cal.accept_distance:.4f} at a window false-accept rate of "
                        f"{cal.false_accept_rate:.4f} (target {window_far:g}; false rejects "
                        f"{cal.false_reject_rate:.4f}; {cal.impostor} probe windows of {len(set(ids))} people), used "
                        "when gallery.accept_distance is not set")
    if handoff_far is not None:
        cal = _checked(lambda: calibrate_track_pairs(features, ids, windows.sequence_index, target_far=handoff_far),
                       f"hand-offs on {dataset.name}")
        meta = replace(meta, handoff_distance=round(cal.accept_distance, 4))
        measured.append(f"hand-off distance {cal.accept_distance:.4f} at a false-accept rate of "
                        f"{cal.false_accept_rate:.4f} per pair of tracks (target {handoff_far:g}; false rejects "
                        f"{cal.false_reject_rate:.4f}; {cal.impostor} pairs of {cal.identities} people)")
    write_meta(checkpoint, meta)
    for line in measured:
        print(f"{line}: written to {checkpoint}")
