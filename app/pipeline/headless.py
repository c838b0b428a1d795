"""What the headless commands (record, replay, run) share: opening an input, the progress line, the summary.

Kept out of the command modules so the three stay thin and read the same way.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from app.config import home_dir
from app.events import FrameResult, IdentityDecision, MatchEvent
from app.compose import gives_skeletons
from app.pipeline.multi import Camera, MultiPipeline
from app.pipeline.runner import Listener, Pipeline, PipelineSummary
from app.session_records import CAMERA_NAME
from capture.stats import accounting_lines
from core.errors import SkelwatchError

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5


class PipelineFailed(SkelwatchError):
    """A pipeline stage failed while running; the message names the stage and the cause."""


def demo_recording() -> Path:
    """The bundled demo recording.

    Raises:
        SkelwatchError: it has not been built (set-up not run).
    """
    path = home_dir() / "demo" / "demo.db3"
    if not path.is_file():
        raise SkelwatchError(f"the demo recording {path} is missing; run `bash scripts/setup.sh` to build it")
    return path


def open_input(spec: str, *, seconds: float | None = None, people: int | None = None,
               size: tuple[int, int] | None = None) -> tuple[Any, bool]:
    """Open a capture source by spec; "demo" is the bundled recording, "synthetic" takes a length and crowd.

    Returns:
        The source, and whether its frames carry every person's skeleton (then pose never runs).
    Raises:
        SourceError: unknown spec, missing device or file, unreadable file.
    """
    from capture.sources import open_source

    if spec == "demo":
        spec = str(demo_recording())
    if spec == "synthetic":
        options: dict[str, Any] = {}
        if seconds is not None:
            options["seconds"] = seconds
        if people is not None:
            options["n_people"] = people
        if size is not None:
            options["width"], options["height"] = size
        return open_source("synthetic", **options), True
    return open_source(spec), gives_skeletons(spec)


@dataclass
class _TrackLine:
    first_s: float
    last_s: float
    frames: int = 0
    state: str = ""
    identity: IdentityDecision = field(default_factory=IdentityDecision)
    camera: str = ""


@dataclass
class HeadlessListener(Listener):
    """Prints a progress line (stderr) and collects per-track and per-window facts for the summary.

    With `windows=True` every encoded window is printed on stdout as it comes. `mot_rows` collects every
    confirmed track's box per frame for `write_mot` (a track's tentative frames join it when it is confirmed).
    With `cameras=True` (several cameras) track and window lines name each track's camera, and MOT frames are
    numbered per camera.
    """

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    windows: bool = False
    cameras: bool = False
    tracks: dict[int, _TrackLine] = field(default_factory=dict)
    window_counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    last: FrameResult | None = None
    failure: tuple[str, BaseException] | None = None
    mot_rows: list[tuple[int, int, tuple[float, float, float, float]]] = field(default_factory=list)
    _tentative_rows: dict[int, list] = field(default_factory=lambda: defaultdict(list))
    _frames_seen: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per camera
    _last_print: float = 0.0

    def on_frame(self, result: FrameResult) -> None:
        self.last = result
        self._frames_seen[result.camera] += 1
        self._collect_boxes(result)
        for view in result.tracks:
            line = self.tracks.get(view.track_id)
            if line is None:
                line = self.tracks[view.track_id] = _TrackLine(result.timestamp_s, result.timestamp_s,
                                                               camera=view.camera)
            line.last_s, line.state = result.timestamp_s, view.state
            line.frames += 1
            line.identity = view.identity
        now = time.monotonic()
        if now - self._last_print >= PROGRESS_INTERVAL_S:
            self._last_print = now
            where = f"{result.camera}: " if self.cameras else ""
            self.err.write(where + progress_line(result) + ("\r" if self.err.isatty() else "\n"))
            self.err.flush()

    def _collect_boxes(self, result: FrameResult) -> None:
        """MOT rows: frames numbered 1, 2, ... in decoding order; tentative boxes wait for confirmation, which may
        come in a frame the person is not seen in (no box then)."""
        for view in result.tracks:
            if view.state == "confirmed":
                self.mot_rows.extend(self._tentative_rows.pop(view.track_id, ()))
            if view.box is None:
                continue
            row = (self._frames_seen[result.camera], view.track_id, view.box)
            if view.state == "confirmed":
                self.mot_rows.append(row)
            elif view.state == "tentative":
                self._tentative_rows[view.track_id].append(row)
        present = {view.track_id for view in result.tracks}
        for track_id in [t for t in self._tentative_rows if t not in present]:
            del self._tentative_rows[track_id]  # deleted (or merged) before confirmation

    def write_mot(self, path: Path) -> int:
        """Write the confirmed tracks' boxes in MOTChallenge text format; returns the number of rows.

        Raises:
            SkelwatchError: the file cannot be written.
        """
        lines = [f"{frame},{track_id},{x0:.1f},{y0:.1f},{x1 - x0:.1f},{y1 - y0:.1f},1,-1,-1,-1\n"
                 for frame, track_id, (x0, y0, x1, y1) in sorted(self.mot_rows)]
        try:
            Path(path).write_text("".join(lines))
        except OSError as exc:
            raise SkelwatchError(f"--tracks-out {path}: cannot write it ({exc}); pick a writable path") from None
        return len(lines)

    def on_match(self, event: MatchEvent) -> None:
        self.window_counts[event.track_id] += 1
        if self.windows:
            who = event.identity.name or event.identity.decision
            where = f"{event.camera}  " if self.cameras else ""
            self.out.write(f"window {where}track {event.track_id:3d}  {event.start_s:8.2f}-{event.timestamp_s:8.2f} s  "
                           f"{event.frames} frames  {who} ({event.confidence:.2f})\n")

    def on_error(self, stage: str, error: BaseException) -> None:
        if self.failure is None:
            self.failure = (stage, error)

    def raise_failure(self) -> None:
        """Raises: the stage's SkelwatchError as is, or PipelineFailed naming the stage for any other error."""
        if self.failure is not None:
            raise_stage_failure(*self.failure)

    def print_tracks(self) -> None:
        self.out.write(f"{len(self.tracks)} tracks:\n")
        width = max((len(line.camera) for line in self.tracks.values()), default=0)
        for track_id, line in sorted(self.tracks.items()):
            who = line.identity.name or line.identity.decision
            where = f"{line.camera:{width}s}  " if self.cameras else ""
            self.out.write(f"  {where}track {track_id:3d}  {line.first_s:8.2f}-{line.last_s:8.2f} s  "
                           f"{line.frames:5d} frames  "
                           f"{self.window_counts.get(track_id, 0):4d} windows  {line.state:9s}  {who}\n")


def raise_stage_failure(stage: str, error: BaseException) -> None:
    """Raises: the stage's SkelwatchError as is, or PipelineFailed naming the stage for any other error."""
    if isinstance(error, SkelwatchError):
        raise error
    raise PipelineFailed(f"the {stage} stage failed: {type(error).__name__}: {error} (the log has the "
                         "traceback); what was recorded so far is kept") from error


def progress_line(result: FrameResult) -> str:
    where = f"t={result.timestamp_s:7.2f} s"
    if result.duration_s:
        where += f" / {result.duration_s:.2f} s"
    return (f"frame {result.frame_index:6d}  {where}  {result.fps:5.1f} fps  {len(result.tracks)} tracks  "
            f"{result.windows_encoded} windows  {result.dropped_frames} dropped")


def summary_line(summary: PipelineSummary) -> str:
    stages = "  ".join(f"{k} {v:.1f}" for k, v in summary.stage_ms_per_frame.items())
    return (f"{summary.frames} frames in {summary.wall_s:.1f} s ({summary.fps:.1f} fps), "
            f"{summary.dropped_frames} dropped, {summary.confirmed_tracks} confirmed tracks, "
            f"{summary.windows_encoded}/{summary.windows} windows encoded, pose: {summary.pose_estimated} frames "
            f"estimated, {summary.pose_cache_hits} from the skeleton cache; ms/frame: {stages}")


def print_ending(summary: PipelineSummary, listener: HeadlessListener, tracks_out: Path | None) -> None:
    """The summary line, the per-stage account of where skeletons went, and the MOT file if asked for."""
    out = listener.out
    out.write(summary_line(summary) + "\n")
    for line in accounting_lines(summary.tracker_stats, summary.buffer_stats):
        out.write(line + "\n")
    if tracks_out is not None:
        rows = listener.write_mot(tracks_out)
        out.write(f"wrote {rows} track boxes to {tracks_out}\n")


def run_to_end(pipeline: Pipeline, listener: HeadlessListener) -> PipelineSummary:
    """Run until the stream ends, a stage fails, or Ctrl-C; always stops the pipeline (keeping recordings).

    Raises:
        SkelwatchError: from the failed stage (see HeadlessListener.raise_failure).
    """
    pipeline.start()
    try:
        while not pipeline.wait(0.2):
            pass
    finally:
        summary = pipeline.stop()
    if listener.err.isatty():
        listener.err.write("\n")
    listener.raise_failure()
    return summary


# --- several cameras ---------------------------------------------------------------------------------------------
_CAMERA_NAME = re.compile(CAMERA_NAME)


def camera_specs(specs: list[str]) -> list[tuple[str, str]]:
    """`NAME=SPEC` or `SPEC` per camera -> (name, spec); unnamed cameras are cam1, cam2, ... by position.

    Raises:
        SkelwatchError: two cameras with one name.
    """
    out = []
    for k, text in enumerate(specs, start=1):
        name, sep, spec = text.partition("=")
        if not (sep and _CAMERA_NAME.fullmatch(name) and spec):
            name, spec = f"cam{k}", text
        out.append((name, spec))
    names = [name for name, _ in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SkelwatchError(f"cameras {', '.join(twice)} are named twice; give each --source its own NAME=SPEC")
    return out


def open_cameras(specs: list[str], open_one: Callable[[str], tuple[Any, bool, Any]],
                 err: IO[str] | None = None) -> tuple[list[Camera], list[str]]:
    """Open every camera; one that cannot be opened is reported (naming it and the fix) and left out.

    Args:
        open_one: spec -> (source, skeletons given, skeleton cache or None).
        err: where each camera left out is reported at once (the terminal); None: only returned (the window).
    Returns:
        The cameras opened, and a message per camera left out.
    Raises:
        SkelwatchError: no camera could be opened (the message lists why for each).
    """
    cameras, failures = [], []
    for name, spec in camera_specs(specs):
        try:
            source, given, cache = open_one(spec)
        except SkelwatchError as exc:
            failures.append(f"camera {name} ({spec}) cannot be opened: {exc}; fix it or leave out its --source")
            if err is not None:
                err.write(f"error: {failures[-1]}; the other cameras run without it\n")
            continue
        cameras.append(Camera(name, source, given, cache))
    if not cameras:
        raise SkelwatchError("no camera could be opened: " + "; ".join(failures))
    return cameras, failures


def run_cameras(pipeline: MultiPipeline, listener: HeadlessListener) -> dict[str, PipelineSummary]:
    """`run_to_end` for several cameras: a camera whose source fails mid-run only ends that camera (see
    MultiPipeline.failed_cameras); a shared stage's failure is raised as there.

    Raises:
        SkelwatchError: from the failed shared stage.
    """
    pipeline.start()
    try:
        while not pipeline.wait(0.2):
            pass
    finally:
        summaries = pipeline.stop()
    if pipeline.failure is not None:
        raise_stage_failure(*pipeline.failure)
    return summaries


def print_cameras_ending(summaries: dict[str, PipelineSummary], listener: HeadlessListener,
                         tracks_out: Path | None, failed: list[str]) -> int:
    """Each camera's summary and account, the MOT file if asked for, and the cameras left out (stderr).

    Returns:
        The exit status: 1 when a camera was left out, else 0.
    """
    out = listener.out
    for name, summary in summaries.items():
        out.write(f"camera {name}: {summary_line(summary)}\n")
        for line in accounting_lines(summary.tracker_stats, summary.buffer_stats):
            out.write(f"camera {name}: {line}\n")
    if tracks_out is not None:
        rows = listener.write_mot(tracks_out)
        out.write(f"wrote {rows} track boxes to {tracks_out} (frames numbered per camera)\n")
    for message in failed:
        listener.err.write(f"error: {message}\n")
    return 1 if failed else 0
