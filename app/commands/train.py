"""`train`: unsupervised Hi-MPC training on one or more datasets or recorded sessions (no labels are read)."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from contextlib import ExitStack, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from app.config import SkelwatchConfig, dump_config
from core.errors import SkelwatchError
from reid.errors import DatasetError

if TYPE_CHECKING:  # torch and the training stack load when a run starts, not for --help
    from reid.train import EpochStats

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
    parser.add_argument("--overwrite", action="store_true",
                        help="delete an existing run of this name and start it again")
    parser.add_argument("--progress-json", action="store_true",
                        help="print one JSON line per epoch on stdout (for the GUI's training panel)")
    parser.set_defaults(func=run)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """`--format` and the repeatable `--option KEY=VALUE` (reader options), shared with `evaluate`."""
    from app.session_dataset import register_format as register_session_format
    from reid.datasets import format_help  # the readers need numpy (and scipy) only, not torch

    register_session_format()  # recorded sessions are a dataset format too: listed with their options
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
    from app.session_dataset import register_format as register_session_format
    from reid.datasets import load_dataset
    from reid.train import dataset_windows

    register_session_format()  # recorded sessions are a dataset format too: how a site adapts the model
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


def run_folder(runs_dir: Path, name: str) -> Path:
    """`runs_dir/name`, refusing a name that would leave `runs_dir` (`../x`, `a/b`, an absolute path).

    Raises:
        DatasetError: naming the run and what a run name may be.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or len(name.encode()) > 200:
        raise DatasetError(f"--run {name!r} is not a run name: give one folder name (no '/', not '..', at most "
                           f"200 bytes); the run is written to {runs_dir}/NAME (use --runs-dir to move it)")
    return runs_dir / name


def check_run_folder(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to train over an existing run unless the user said which: continue it, or replace it."""
    if resume and overwrite:
        raise SkelwatchError("--resume and --overwrite contradict each other: give one")
    exists = run_dir.is_dir() and any(run_dir.iterdir())
    if exists and not resume and not overwrite:
        raise SkelwatchError(f"run folder {run_dir} already exists: add --resume to continue it, --overwrite to "
                             f"start it again, or name a new run with --run")
    if resume and not exists:
        raise SkelwatchError(f"--resume: there is no run {run_dir} to continue; drop --resume to start it")
    if overwrite and exists:
        shutil.rmtree(run_dir)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    import torch

    from app.compose import new_model, train_settings
    from reid.checkpoint import ModelMeta, load_model
    from reid.train import Trainer

    run_dir = run_folder(args.runs_dir, args.run)
    torch.set_num_threads(config.train.threads)
    frames = config.model.frames
    # The data (and its reader options) are checked first, so a bad one leaves an existing run untouched.
    windows, groups, layout, described = training_windows(args.data, args.format, frames, config.train.stride,
                                                          reader_options(args.option))
    check_run_folder(run_dir, args.resume, args.overwrite)
    num_joints = windows.shape[2]
    torch.manual_seed(config.train.seed)
    if args.init is not None:
        model, init_meta = load_model(args.init, expect_joints=num_joints)
        if init_meta.frames != frames:
            raise DatasetError(f"--init {args.init} was trained on {init_meta.frames}-frame windows; "
                               f"set model.frames={init_meta.frames}")
    else:
        model = new_model(config, num_joints)
    meta = ModelMeta(num_joints, model.hidden, model.num_heads, frames, layout, trained_on=described)
    settings = train_settings(config)
    progress = None if args.progress_json else EpochProgress(settings.epochs, sys.stderr, bar=sys.stderr.isatty())
    fresh = not run_dir.exists()
    try:
        trainer = Trainer(model, windows, settings, run_dir, meta, groups=groups,
                          on_epoch=_print_json if progress is None else progress, progress=False)
        if args.resume:
            logger.info("resuming %s at epoch %d", run_dir, trainer.resume() + 1)
        dump_config(config, run_dir / "config.yaml")
        logger.info("training on %d windows of %d frames (%s)", len(windows), frames, described)
        with progress.showing(trainer.start_epoch) if progress else nullcontext():
            history = trainer.fit()
    except BaseException:
        if fresh and not (run_dir / "last").exists():  # failed before its first checkpoint: leave nothing behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    best = max((s for s in history if s.best), key=lambda s: s.score, default=None)
    print(f"trained {len(history)} epochs on {len(windows)} windows; run folder {run_dir}"
          + (f"; best label-free score {best.score:.4f} at epoch {best.epoch}" if best else ""))
    return 0


def _print_json(stats: EpochStats) -> None:
    print(json.dumps(asdict(stats)), flush=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class EpochProgress:
    """The command line's view of a training run, as the GUI's panel shows it: epochs done of the total,
    clusters, loss and time left. On a terminal a tqdm bar (the log lines pass above it); otherwise (a pipe, a
    CI log) one plain line per epoch, after the trainer's own log line, adding what that line lacks.

    Time left is an upper bound: the run stops earlier when `train.patience` epochs bring no better score.
    """

    def __init__(self, total: int, stream: TextIO, bar: bool) -> None:
        self.total, self.stream, self.use_bar = total, stream, bar
        self.bar = None
        self.seconds: list[float] = []

    def showing(self, done: int) -> ExitStack:
        """Context for the run: opens the bar at `done` epochs (a resumed run) and routes logging above it."""
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        stack = ExitStack()
        if self.use_bar:
            self.bar = stack.enter_context(tqdm(total=self.total, initial=done, unit="epoch", desc="training",
                                                file=self.stream))
            stack.enter_context(logging_redirect_tqdm())
        return stack

    def __call__(self, stats: EpochStats) -> None:
        self.seconds.append(stats.seconds)
        c = stats.clusters
        text = f"clusters J/C/L {c['joint']}/{c['component']}/{c['limb']}, loss {stats.loss:.4f}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
            return
        left = (self.total - stats.epoch) * float(np.mean(self.seconds))
        eta = f", at most {_duration(left)} left" if stats.epoch < self.total else ""
        print(f"epoch {stats.epoch}/{self.total}: {text}; {_duration(stats.seconds)} this epoch{eta}",
              file=self.stream, flush=True)
