"""`replay`: re-run tracking and re-ID on a recorded session or a file, headless, as fast as possible."""
from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.options import add_output_switches
from app.config import SkelwatchConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay a session or recording headless and print its tracks",
        description="Replay a recorded session folder (its skeleton cache replaces pose) or a file (a .db3/.bag "
        "recording, a video, a skeleton file) through tracking and re-ID; prints a progress line, the tracks "
        "and, with --windows, every encoded window. A session without a cache gets one on its first replay.")
    parser.add_argument("input", help="a session folder, a recording or video file, or demo / synthetic")
    parser.add_argument("--speed", type=float, default=None,
                        help="multiple of real time, 0.25 to 8 (default: as fast as possible)")
    parser.add_argument("--windows", action="store_true", help="print every encoded window")
    parser.add_argument("--images", action="store_true",
                        help="decode the session's recording even when its skeleton cache is complete")
    add_output_switches(parser, scene_size=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    from app.compose import build_pipeline, gives_skeletons
    from app.pipeline.headless import HeadlessListener, open_input, run_to_end, summary_line
    from app.session import SessionRecorder, SessionWriter, is_session, recording_path
    from app.session_replay import open_session

    listener = HeadlessListener(windows=args.windows)
    recorder = None
    if is_session(Path(args.input)):
        session = open_session(Path(args.input), images=args.images)
        source, cache = session.source, session.cache
        raw = recording_path(session.folder)
        given = raw is not None and gives_skeletons(str(raw))
        if session.fill_cache:
            recorder = SessionRecorder(SessionWriter(session.folder, session.manifest,
                                                     config.pipeline.flush_interval_s), raw=None)
    else:
        (source, given), cache = open_input(args.input), None
    pipeline = build_pipeline(config, source, speed=args.speed, skeleton_cache=cache, skeletons_given=given,
                              gallery=not args.no_gallery, session_label=str(args.input), listeners=(listener,))
    if recorder is not None:
        pipeline.start_recording(recorder)
    summary = run_to_end(pipeline, listener)
    print(f"replayed {source.name}")
    listener.print_tracks()
    print(summary_line(summary))
    return 0
