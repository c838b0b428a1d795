"""`replay`: re-run tracking and re-ID on a recorded session or a file, headless, as fast as possible."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from typing import TYPE_CHECKING

from app.commands.options import add_output_switches
from app.config import SkelwatchConfig

if TYPE_CHECKING:
    from app.session import CacheBuilder

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay a session or recording headless and print its tracks",
        description="Replay a recorded session folder (its skeleton cache replaces pose) or a file (a .db3/.bag "
        "recording, a video, a skeleton file) through tracking and re-ID; prints a progress line, the tracks "
        "and, with --windows, every encoded window. A session is never changed; one without a skeleton cache gets "
        "one beside it (written whole) when its first replay reaches the end.")
    parser.add_argument("input", nargs="+", metavar="[NAME=]INPUT",
                        help="a session folder, a recording or video file, or demo / synthetic; several are several "
                        "cameras replayed together in step (named NAME=INPUT, else cam1, cam2, ...), sharing one "
                        "encoder and gallery, with hand-off between them (the handoff section); so is one "
                        "multi-camera session folder (from `record --source A --source B`): its cameras replay "
                        "from their skeleton caches on the session's shared clock")
    parser.add_argument("--speed", type=float, default=None,
                        help="multiple of real time, 0.25 to 8 (default: as fast as possible)")
    parser.add_argument("--windows", action="store_true", help="print every encoded window")
    parser.add_argument("--images", action="store_true",
                        help="decode the session's recording even when its skeleton cache is complete (a "
                        "multi-camera session always replays from its caches: replay a camera's folder for images)")
    add_output_switches(parser, scene_size=False, tracks_out=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    from app.compose import build_pipeline, gives_skeletons
    from app.pipeline.headless import HeadlessListener, open_input, print_ending, run_to_end
    from app.session import is_session, recording_path
    from app.session_cameras import is_multi_session
    from app.session_replay import open_session

    if len(args.input) > 1 or is_multi_session(Path(args.input[0])):
        return _replay_cameras(args, config)
    args.input = args.input[0]
    listener = HeadlessListener(windows=args.windows)
    fill_cache: Path | None = None
    if is_session(Path(args.input)):
        session = open_session(Path(args.input), images=args.images)
        source, cache = session.source, session.cache
        raw = recording_path(session.folder)
        given = raw is not None and gives_skeletons(str(raw))
        fill_cache = session.folder if session.fill_cache else None
    else:
        (source, given), cache = open_input(args.input), None
    pipeline = build_pipeline(config, source, speed=args.speed, skeleton_cache=cache, skeletons_given=given,
                              gallery=not args.no_gallery, session_label=str(args.input), listeners=(listener,))
    recorder = None if fill_cache is None else _cache_builder(fill_cache, config.pipeline.flush_interval_s)
    try:
        if recorder is not None:
            pipeline.start_recording(recorder)
        summary = run_to_end(pipeline, listener)
        if recorder is not None:
            recorder.commit()
    finally:
        if recorder is not None:
            recorder.discard()
    print(f"replayed {source.name}")
    listener.print_tracks()
    print_ending(summary, listener, args.tracks_out)
    return 0


def _replay_cameras(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    """Several inputs, or the cameras of one multi-camera session, replayed as cameras of one site (no cache is
    built here: replay each alone for that)."""
    import sys

    from app.compose import build_multi_pipeline, gives_skeletons
    from app.pipeline.headless import HeadlessListener, open_cameras, open_input, print_cameras_ending, run_cameras
    from app.session import is_session, recording_path
    from app.session_replay import open_camera_sessions, open_session

    def open_one(spec: str) -> tuple[object, bool, object]:
        if is_session(Path(spec)):
            session = open_session(Path(spec), images=args.images)
            raw = recording_path(session.folder)
            return session.source, raw is not None and gives_skeletons(str(raw)), session.cache
        return (*open_input(spec), None)

    if len(args.input) == 1:  # a multi-camera session
        cameras, failed = open_camera_sessions(Path(args.input[0]), sys.stderr)
    else:
        cameras, failed = open_cameras(args.input, open_one, sys.stderr)
    listener = HeadlessListener(windows=args.windows, cameras=True)
    pipeline = build_multi_pipeline(config, cameras, speed=args.speed, gallery=not args.no_gallery,
                                    session_label=" + ".join(args.input), listeners=(listener,))
    summaries = run_cameras(pipeline, listener)
    print(f"replayed {', '.join(f'{c.name}={c.source.name}' for c in cameras)}")
    listener.print_tracks()
    return print_cameras_ending(summaries, listener, args.tracks_out,
                                failed + list(pipeline.failed_cameras.values()))


def _cache_builder(folder: Path, flush_interval_s: float) -> CacheBuilder | None:
    """A builder for the session's missing cache, or None (replay goes on) when its folder is read-only."""
    from app.session import CacheBuilder

    try:
        return CacheBuilder(folder, flush_interval_s)
    except OSError as exc:
        logger.warning("%s: cannot build a skeleton cache here (%s); replaying without one", folder, exc.strerror)
        return None
