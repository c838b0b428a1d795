"""`record`: capture a source for a while into a session folder (raw recording, skeletons, tracks, manifest)."""
from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.options import add_output_switches
from app.config import SkelwatchConfig
from core.errors import SkelwatchError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record", help="record a source into a session folder",
        description="Run capture, pose and tracking on SOURCE for SECONDS and record a session folder: the "
        "RealSense .db3 (for RealSense and synthetic sources), the skeletons and tracks (JSON lines, flushed "
        "every half second) and a manifest. Replaying the session never re-runs pose. Several --source record "
        "a multi-camera session: a session per camera (OUT/NAME/) and cameras.json, their shared clock.")
    parser.add_argument("--source", action="append", default=None, metavar="[NAME=]SPEC",
                        help="realsense[:SERIAL], synthetic, demo, a video or a .db3/.bag recording "
                        "(default: pipeline.source); repeat it for several cameras, optionally named as for `run` "
                        "(door=realsense:123; else cam1, cam2, ...): one session folder holds a session per camera "
                        "(OUT/NAME/) and cameras.json, which puts them on one clock")
    parser.add_argument("--seconds", type=float, required=True, help="how long to record (media time, s)")
    parser.add_argument("--out", type=Path, required=True, help="the new session folder")
    parser.add_argument("--speed", type=float, default=None,
                        help="pace of a file or synthetic source as a multiple of real time (default: as fast as "
                        "possible); live cameras run at their own rate")
    parser.add_argument("--people", type=int, default=None, help="people in the synthetic scene")
    parser.add_argument("--no-raw", action="store_true", help="keep skeletons and tracks only, not the images")
    add_output_switches(parser, scene_size=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    if not args.seconds > 0:
        raise SkelwatchError(f"--seconds {args.seconds}: give a duration > 0")
    from app.compose import build_pipeline
    from app.pipeline.headless import HeadlessListener, open_input, run_to_end, summary_line
    from app.session import SessionRecorder

    specs = args.source or [config.pipeline.source]
    if len(specs) > 1:
        return _record_cameras(args, config, specs)
    spec = specs[0]
    source, given = open_input(spec, seconds=args.seconds, people=args.people, size=args.size)
    try:
        recorder = SessionRecorder.create(args.out, source, spec, record_raw=not args.no_raw,
                                          flush_interval_s=config.pipeline.flush_interval_s,
                                          keep_color=not config.storage.privacy_skeleton_only)
    except BaseException:
        source.close()
        raise
    listener = HeadlessListener()
    pipeline = build_pipeline(config, source, speed=args.speed, skeletons_given=given,
                              gallery=not args.no_gallery, session_label=str(args.out.resolve()), max_seconds=args.seconds,
                              listeners=(listener,))
    pipeline.start_recording(recorder)
    try:
        summary = run_to_end(pipeline, listener)
    finally:
        print(f"session: {args.out}")
    listener.print_tracks()
    print(summary_line(summary))
    return 0


def _record_cameras(args: argparse.Namespace, config: SkelwatchConfig, specs: list[str]) -> int:
    """Several cameras into one multi-camera session (app.session_cameras); a camera that cannot be opened is
    named and left out, as in `run`."""
    import sys

    from app.compose import build_multi_pipeline
    from app.pipeline.headless import (HeadlessListener, camera_specs, open_cameras, open_input, print_cameras_ending,
                                       run_cameras)
    from app.session_cameras import MultiSessionRecorder

    def open_one(spec: str) -> tuple[object, bool, None]:
        return (*open_input(spec, seconds=args.seconds, people=args.people, size=args.size), None)

    cameras, failed = open_cameras(specs, open_one, sys.stderr)
    spec_of = dict(camera_specs(specs))
    try:
        recorder = MultiSessionRecorder.create(args.out, [(c.name, c.source, spec_of[c.name]) for c in cameras],
                                               record_raw=not args.no_raw,
                                               flush_interval_s=config.pipeline.flush_interval_s,
                                               keep_color=not config.storage.privacy_skeleton_only)
    except BaseException:
        for camera in cameras:
            camera.source.close()
        raise
    listener = HeadlessListener(cameras=True)
    try:
        pipeline = build_multi_pipeline(config, cameras, speed=args.speed, gallery=not args.no_gallery,
                                        session_label=str(args.out.resolve()), max_seconds=args.seconds,
                                        listeners=(listener,))
        pipeline.start_recording(recorder.recorders)
        summaries = run_cameras(pipeline, listener)
    finally:
        recorder.close()  # what a worker did not close (a failed start); finalises cameras.json
        print(f"session: {args.out}")
    listener.print_tracks()
    return print_cameras_ending(summaries, listener, None, failed + list(pipeline.failed_cameras.values()))
