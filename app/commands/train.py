"""`train`: unsupervised Hi-MPC training on one or more datasets or recorded sessions (no labels are read)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from app.config import SkelwatchConfig, dump_config
from app.session_dataset import register_format as register_session_format
from app.wiring import train_settings
from reid.checkpoint import ModelMeta, load_model
from reid.datasets import format_help, load_dataset
from reid.errors import DatasetError
from reid.model import HiMPC
from reid.train import EpochStats, Trainer, dataset_windows

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train Hi-MPC without labels on datasets or recorded sessions",
        description="Unsupervised Hi-MPC training. Identity labels are never read: pseudo-labels come from "
        "clustering. Writes runs/NAME/ with config.yaml, metrics.json, best/ and last/ checkpoints.")
    parser.add_argument("--data", nargs="+", required=True, type=Path, metavar="PATH",
                        help="dataset folder(s) or recorded session folder(s); 'synthetic' for generated walkers")
    add_dataset_arguments(parser)
    parser.add_argument("--run", required=True, help="run name: outputs go to RUNS_DIR/NAME")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent folder of runs (default: runs)")
    parser.add_argument("--init", type=Path, default=None, help="start from this checkpoint (site adaptation)")
    parser.add_argument("--resume", action="store_true", help="continue the run from its last/ checkpoint")
    parser.add_argument("--progress-json", action="store_true",
                        help="print one JSON line per epoch on stdout (for the GUI's training panel)")
    parser.set_defaults(func=run)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """`--format` and the repeatable `--option KEY=VALUE` (reader options), shared with `evaluate`."""
    register_session_format()  # recorded sessions are a dataset format too: how a site adapts the model
    parser.add_argument("--format", default=None, help="dataset format name (detected when omitted)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help=f"a reader option (repeatable), e.g. --option name_pattern='(?P<identity>p\\d+)_"
                        f"(?P<session>s\\d)' --option gallery_sessions=s1 --option probe_sessions=s2. Options per "
                        f"format: {format_help()}".replace("%", "%%"))


def reader_options(pairs: list[str]) -> dict[str, str]:
    """`--option KEY=VALUE` texts as a dict (the reader parses and checks each value)."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DatasetError(f"--option {pair!r} is not KEY=VALUE; e.g. --option gallery_sessions=s1")
        options[key.strip()] = value
    return options


def training_windows(paths: list[Path], fmt: str | None, frames: int, stride: int,
                     options: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Windows of every training sequence of every dataset; returns (windows, sequence number of each window,
    layout, description). Sequence numbers run on across datasets, so no two sequences share one."""
    register_session_format()
    parts, groups, layouts, names, offset = [], [], set(), [], 0
    for path in paths:
        dataset = load_dataset(path, fmt, **(options or {}))
        logger.info("%s: %d sequences; %s", dataset.name, len(dataset.sequences), dataset.report.summary())
        windows, sequence = dataset_windows(dataset, frames, stride)
        parts.append(windows)
        groups.append(sequence + offset)
        offset += len(dataset.train)
        layouts.add(dataset.layout)
        names.append(dataset.name)
    if len(layouts) > 1:
        raise DatasetError(f"the datasets use different joint layouts ({', '.join(sorted(layouts))}); "
                           f"train on one layout at a time")
    data = np.concatenate(parts)
    if len(data) == 0:
        raise DatasetError(f"no training window of {frames} frames in {', '.join(map(str, paths))}: the "
                           f"sequences are missing or shorter than model.frames")
    return data, np.concatenate(groups), layouts.pop(), " + ".join(names)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    torch.set_num_threads(config.train.threads)
    frames = config.model.frames
    windows, groups, layout, described = training_windows(args.data, args.format, frames, config.train.stride,
                                                          reader_options(args.option))
    num_joints = windows.shape[2]
    torch.manual_seed(config.train.seed)
    if args.init is not None:
        model, init_meta = load_model(args.init, expect_joints=num_joints)
        if init_meta.frames != frames:
            raise DatasetError(f"--init {args.init} was trained on {init_meta.frames}-frame windows; "
                               f"set model.frames={init_meta.frames}")
    else:
        model = HiMPC(num_joints, config.model.hidden, config.model.heads, config.model.align_heading)
    run_dir = args.runs_dir / args.run
    dump_config(config, run_dir / "config.yaml")
    meta = ModelMeta(num_joints, model.hidden, model.num_heads, frames, layout, trained_on=described)
    on_epoch = _print_json if args.progress_json else None
    trainer = Trainer(model, windows, train_settings(config), run_dir, meta, groups=groups, on_epoch=on_epoch,
                      progress=sys.stderr.isatty() and not args.progress_json)
    if args.resume:
        logger.info("resuming %s at epoch %d", run_dir, trainer.resume() + 1)
    logger.info("training on %d windows of %d frames (%s)", len(windows), frames, described)
    history = trainer.fit()
    best = max((s for s in history if s.best), key=lambda s: s.score, default=None)
    print(f"trained {len(history)} epochs on {len(windows)} windows; run folder {run_dir}"
          + (f"; best label-free score {best.score:.4f} at epoch {best.epoch}" if best else ""))
    return 0


def _print_json(stats: EpochStats) -> None:
    print(json.dumps(asdict(stats)), flush=True)
