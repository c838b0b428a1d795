"""`gui`: the desktop window (the default command). `--screenshot F --exit-after S` checks it without a display.

It lives in ui/ (app/ never imports the window); main.py adds it to app.cli's commands.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from app.config import SkelwatchConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the desktop GUI (the default when no command is given)",
        description="Open the operator window on SOURCE (default: pipeline.source, the bundled demo): live view, "
        "tracks, gallery, replay, recording, training and alerts. Without a display it says how to run headless.")
    parser.add_argument("--source", action="append", default=None, metavar="[NAME=]SPEC",
                        help="demo, synthetic, realsense[:SERIAL], a recording, a video or a session folder; repeat "
                        "it for several cameras, optionally named (door=realsense:123; else cam1, cam2, ...): a grid "
                        "of views, one encoder and gallery, and each person's sightings by camera")
    parser.add_argument("--screenshot", type=Path, default=None, metavar="FILE",
                        help="save a PNG of the window when --exit-after elapses")
    parser.add_argument("--exit-after", type=float, default=None, metavar="SECONDS",
                        help="close the window after this many seconds (with --screenshot: after saving it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    from ui.app import run_gui

    exit_after = args.exit_after if args.exit_after is not None else (8.0 if args.screenshot else None)
    return run_gui(config, args.source or [config.pipeline.source], args.screenshot, exit_after)
