"""`run`: the live pipeline without a window, until Ctrl-C or the end of the source."""
from __future__ import annotations

import argparse

from app.commands.options import add_output_switches
from app.config import SkelwatchConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run the pipeline headless on a camera or file",
        description="Run capture, pose, tracking and re-ID headless on SOURCE at its own rate (a file or the "
        "synthetic scene is paced at real time, like a camera); prints a progress line and, at the end (the "
        "source ends, --seconds pass, or Ctrl-C), the tracks and a summary.")
    parser.add_argument("--source", default=None,
                        help="realsense[:SERIAL], synthetic, demo, a video or a recording (default: pipeline.source)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this much media time (s)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="pace of a file source as a multiple of real time (default 1)")
    parser.add_argument("--windows", action="store_true", help="print every encoded window")
    add_output_switches(parser, scene_size=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    from app.compose import build_pipeline
    from app.pipeline.headless import HeadlessListener, open_input, run_to_end, summary_line

    source, given = open_input(args.source or config.pipeline.source, seconds=args.seconds, size=args.size)
    listener = HeadlessListener(windows=args.windows)
    pipeline = build_pipeline(config, source, speed=args.speed, skeletons_given=given,
                              gallery=not args.no_gallery, max_seconds=args.seconds, listeners=(listener,))
    try:
        summary = run_to_end(pipeline, listener)
    except KeyboardInterrupt:
        summary = pipeline.stop()
    listener.print_tracks()
    print(summary_line(summary))
    return 0
