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
    parser.add_argument("--source", action="append", default=None, metavar="[NAME=]SPEC",
                        help="realsense[:SERIAL], synthetic, demo, a video or a recording (default: pipeline.source); "
                        "repeat it for several cameras, optionally named (door=realsense:123; else cam1, cam2, ...): "
                        "one encoder and gallery serve them all and a person walking from one camera to another "
                        "keeps one identity (the handoff section)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this much media time (s)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="pace of a file source as a multiple of real time (default 1)")
    parser.add_argument("--windows", action="store_true", help="print every encoded window")
    add_output_switches(parser, scene_size=True, tracks_out=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    from app.compose import build_pipeline
    from app.pipeline.headless import HeadlessListener, open_input, print_ending, run_to_end

    specs = args.source or [config.pipeline.source]
    if len(specs) > 1:
        return _run_cameras(args, config, specs)
    source, given = open_input(specs[0], seconds=args.seconds, size=args.size)
    listener = HeadlessListener(windows=args.windows)
    pipeline = build_pipeline(config, source, speed=args.speed, skeletons_given=given,
                              gallery=not args.no_gallery, max_seconds=args.seconds, listeners=(listener,))
    try:
        summary = run_to_end(pipeline, listener)
    except KeyboardInterrupt:
        summary = pipeline.stop()
    listener.print_tracks()
    print_ending(summary, listener, args.tracks_out)
    return 0


def _run_cameras(args: argparse.Namespace, config: SkelwatchConfig, specs: list[str]) -> int:
    """Several cameras in one process; a camera that cannot be opened or fails is named and left out."""
    import sys

    from app.compose import build_multi_pipeline
    from app.pipeline.headless import HeadlessListener, open_cameras, open_input, print_cameras_ending, run_cameras

    def open_one(spec: str) -> tuple[object, bool, None]:
        return (*open_input(spec, seconds=args.seconds, size=args.size), None)

    cameras, failed = open_cameras(specs, open_one, sys.stderr)
    listener = HeadlessListener(windows=args.windows, cameras=True)
    pipeline = build_multi_pipeline(config, cameras, speed=args.speed, gallery=not args.no_gallery,
                                    max_seconds=args.seconds, listeners=(listener,))
    try:
        summaries = run_cameras(pipeline, listener)
    except KeyboardInterrupt:
        summaries = pipeline.stop()
    listener.print_tracks()
    return print_cameras_ending(summaries, listener, args.tracks_out,
                                failed + list(pipeline.failed_cameras.values()))
