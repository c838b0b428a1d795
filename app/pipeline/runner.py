"""The pipeline runner: starts the four workers, forwards control calls, stops them in reverse order."""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from app.events import AlertEvent, FrameResult, MatchEvent
from app.pipeline.control import ControlError, ControlGroup, PlaybackControl
from app.pipeline.encode_stage import EncodeWorker
from app.pipeline.seams import Estimator, Matcher, Recorder
from app.pipeline.stages import PoseWorker, SourceWorker
from app.pipeline.track_stage import TrackWorker
from app.pipeline.workers import Worker, drain
from capture.stats import BufferStats, TrackerStats

if TYPE_CHECKING:
    from capture.buffer import WindowBuffer
    from capture.frames import Skeleton3D
    from capture.sources import Source
    from capture.tracking import Tracker

logger = logging.getLogger(__name__)

_LISTENER_WAIT_S = 10.0


class Listener:
    """Receives the pipeline's events. Override what you need; methods are called on worker threads.

    Methods must return quickly and must not call back into the pipeline's stop(): hand the value to your own
    thread (the GUI's adapter emits a Qt signal with a queued connection).
    """

    def on_frame(self, result: FrameResult) -> None:
        """One processed frame (every frame in replay; live frames that were not dropped)."""

    def on_match(self, event: MatchEvent) -> None:
        """One window encoded and matched."""

    def on_alert(self, event: AlertEvent) -> None:
        """A watchlist rule fired."""

    def on_error(self, stage: str, error: BaseException) -> None:
        """A worker failed (its exception); the pipeline is then stopping itself."""

    def on_finished(self, summary: "PipelineSummary") -> None:
        """Called once: on the encoder's thread when the stream ends, or on the caller's thread by stop()."""


class QueueListener(Listener):
    """Puts every event into one bounded queue for a consumer that polls (a Qt timer, a test).

    Frame results are dropped oldest first when the consumer falls behind (it only ever shows the newest); matches,
    alerts, errors and the summary wait for room (and are lost, with an error logged, only if the consumer takes
    nothing for 10 s).
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.events: queue.Queue = queue.Queue(maxsize)
        self._frames_dropped = 0

    def _put(self, item: Any, droppable: bool) -> None:
        while True:
            try:
                self.events.put_nowait(item)
                return
            except queue.Full:
                with self.events.mutex:
                    oldest = next((x for x in self.events.queue if isinstance(x, FrameResult)), None)
                    if oldest is None:
                        break
                    self.events.queue.remove(oldest)
                self._frames_dropped += 1
        if droppable:
            self._frames_dropped += 1
            return
        try:  # only other events fill the queue: wait for the consumer, but never hang a worker for good
            self.events.put(item, timeout=_LISTENER_WAIT_S)
        except queue.Full:
            logger.error("QueueListener: the consumer took nothing for %.0f s; an event was lost: %r",
                         _LISTENER_WAIT_S, item)

    def on_frame(self, result: FrameResult) -> None:
        self._put(result, droppable=True)

    def on_match(self, event: MatchEvent) -> None:
        self._put(event, droppable=False)

    def on_alert(self, event: AlertEvent) -> None:
        self._put(event, droppable=False)

    def on_error(self, stage: str, error: BaseException) -> None:
        self._put(("error", stage, error), droppable=False)

    def on_finished(self, summary: "PipelineSummary") -> None:
        self._put(summary, droppable=False)


@dataclass(frozen=True)
class PipelineSummary:
    """Totals of one run, for the CLI's last line, the benchmark and the tests."""

    frames: int                      # frames processed by tracking
    frames_read: int                 # frames read from the source
    dropped_frames: int
    windows: int                     # windows cut by the buffer
    windows_encoded: int
    confirmed_tracks: int            # tracks confirmed (a reacquired one counts once)
    wall_s: float
    pose_cache_hits: int
    pose_estimated: int
    stage_ms_per_frame: dict[str, float] = field(default_factory=dict)
    tracker_stats: TrackerStats = field(default_factory=TrackerStats)  # where the skeletons went
    buffer_stats: BufferStats = field(default_factory=BufferStats)  # windows made and refused, with reasons
    errors: tuple[str, ...] = ()
    completed: bool = True           # the stream reached its end (False: stopped early or failed)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class PipelineOptions:
    """Runner settings (from app.config.pipeline.PipelineConfig; see there for meanings)."""

    frame_queue: int = 4
    skeleton_queue: int = 8
    window_queue: int = 64
    drop_oldest: bool = True
    encode_batch: int = 32
    encode_every: int = 3
    stop_timeout_s: float = 5.0
    speed: float | None = 1.0
    max_seconds: float | None = None  # end the stream after this much media time (None: at the source's end)
    hold_at_end: bool = False  # replay: pause at the end (at_end becomes True) instead of finishing; seek replays


class Broadcaster:
    """Hands what the workers produce to the listeners, on the workers' threads (Pipeline and MultiPipeline)."""

    listeners: tuple[Listener, ...]
    _errors: list[str]

    def _emit_frame(self, result: FrameResult) -> None:
        for listener in self.listeners:
            listener.on_frame(result)

    def _emit_match(self, event: MatchEvent) -> None:
        for listener in self.listeners:
            listener.on_match(event)

    def _emit_alert(self, event: AlertEvent) -> None:
        for listener in self.listeners:
            listener.on_alert(event)

    def _tell_error(self, stage: str, error: BaseException) -> None:
        """Record a stage's failure for the summary and tell every listener."""
        self._errors.append(f"{stage}: {error}")
        for listener in self.listeners:
            try:
                listener.on_error(stage, error)
            except Exception:  # a broken listener must not hide the original failure
                logger.exception("listener failed while handling the error of %s", stage)


class Steerable:
    """Pause / resume / step / speed, forwarded to `control` (thread-safe, from any thread; they return at once):
    one PlaybackControl for a Pipeline, a ControlGroup of every camera's for a MultiPipeline."""

    control: PlaybackControl | ControlGroup

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def step(self, frames: int = 1) -> None:
        """Pause (if running) and let `frames` more frames through."""
        self.control.step(frames)

    def set_speed(self, speed: float | None) -> None:
        """Replay speed, 0.25x to 8x real time, or None for as fast as possible. Ignored by live sources."""
        self.control.set_speed(speed)

    @property
    def paused(self) -> bool:
        return self.control.paused

    @property
    def holding(self) -> bool:
        """Paused between frames: the source reads nothing more until a resume, a step or a seek."""
        return self.control.holding


class Pipeline(Broadcaster, Steerable):
    """Source -> pose -> tracking + buffer -> encoder + gallery, one worker thread each (see app.pipeline)."""

    control: PlaybackControl

    def __init__(self, source: Source, make_tracker: Callable[..., Tracker], make_buffer: Callable[[], WindowBuffer], *,
                 make_estimator: Callable[[], Estimator] | None = None,
                 make_encoder: Callable[[], Callable[[Any], Any]] | None = None,
                 make_matcher: Callable[[], Matcher] | None = None,
                 skeleton_cache: dict[int, list[Skeleton3D]] | None = None, skeletons_given: bool = False,
                 options: PipelineOptions | None = None, listeners: tuple[Listener, ...] = ()) -> None:
        self.options = options or PipelineOptions()
        self.source = source
        self.listeners: list[Listener] = list(listeners)
        self.control = PlaybackControl(self.options.speed, paced=not source.is_live)
        self._errors: list[str] = []
        self._done = threading.Event()
        self._finish_lock = threading.Lock()
        self._summary: PipelineSummary | None = None
        self._started_at: float | None = None
        o = self.options
        self._frames_q: queue.Queue = queue.Queue(o.frame_queue)
        self._skeletons_q: queue.Queue = queue.Queue(o.skeleton_queue)
        self._windows_q: queue.Queue = queue.Queue(o.window_queue)
        self._identities_q: queue.Queue = queue.Queue(1024)
        self._commands_q: queue.Queue = queue.Queue(16)
        self._source_w = SourceWorker(source, self._frames_q, self.control, o.drop_oldest, o.max_seconds,
                                      o.hold_at_end and not source.is_live, self._on_error)
        self._pose_w = PoseWorker(make_estimator, skeleton_cache, skeletons_given, self._frames_q, self._skeletons_q,
                                  self._on_error)
        self._track_w = TrackWorker(make_tracker, make_buffer, self._skeletons_q, self._windows_q, self._identities_q,
                                    self._commands_q, self._emit_frame, self._live_stats, o.encode_batch,
                                    o.encode_every, not source.is_live, self._on_error,
                                    metric=source.metric_skeletons, camera=source.name)
        self._encode_w = EncodeWorker(make_encoder, make_matcher, self._windows_q, (self._identities_q,),
                                      self._emit_match, self._emit_alert, o.encode_batch, self._on_end,
                                      self._on_error, cameras=(source.name,))
        # Start order; stop goes the other way so no consumer stops before its producer.
        self._workers: tuple[Worker, ...] = (self._encode_w, self._track_w, self._pose_w, self._source_w)

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers (consumers first). Returns at once."""
        if self._started_at is not None:
            raise ControlError("this pipeline was already started; build a new one to run again")
        self._started_at = time.monotonic()
        for worker in self._workers:
            worker.start()

    def stop(self) -> PipelineSummary:
        """Stop every worker in reverse start order (event, join with timeout, drain) and return the summary.

        Idempotent; also closes the source, the recorder (keeping what it wrote) and the estimator.
        """
        for worker in reversed(self._workers):
            worker.request_stop()
            if not worker.join(self.options.stop_timeout_s):
                logger.error("pipeline worker %s did not stop within %.1f s", worker.name, self.options.stop_timeout_s)
        for q in (self._frames_q, self._skeletons_q, self._windows_q, self._identities_q):
            drain(q)
        return self._finish(completed=False)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the stream has ended (or a worker failed); returns False on timeout."""
        return self._done.wait(timeout_s)

    def run(self) -> PipelineSummary:
        """Start, wait for the end of the stream, stop: the headless replay in one call."""
        self.start()
        try:
            self.wait()
        finally:
            summary = self.stop()
        return summary

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(self._errors)

    # --- playback control (thread-safe, from any thread) ------------------------------------------------------
    def seek(self, t_s: float) -> None:
        """Jump to media time `t_s` (replay only); tracks and windows restart there.

        Raises:
            ControlError: the source is live.
        """
        if self.source.is_live:
            raise ControlError(f"{self.source.name} is a live source: it cannot seek")
        self.control.seek(t_s)

    @property
    def at_end(self) -> bool:
        """A replay built with hold_at_end has reached its end and is paused there (seek to play again)."""
        return self._source_w.at_end

    @property
    def dropped_frames(self) -> int:
        return self._source_w.dropped

    @property
    def frames_read(self) -> tuple[int, int]:
        """(frames the source has handed over so far, index of the newest): a paused replay reads none more,
        a step reads one."""
        source = self._source_w
        return source.frames, source.last_index

    def state_sizes(self) -> dict[str, int]:
        """How many tracks each per-track structure holds now, by name (tracker, buffer, identity table,
        matcher, voter, sighting recorder, alerts): bounded by the people in view, not by the people seen."""
        return {**self._track_w.state_sizes(), **self._encode_w.state_sizes()}

    # --- recording ------------------------------------------------------------------------------------------
    def start_recording(self, recorder: Recorder) -> None:
        """Record every frame processed from now on into `recorder` (an app.session.SessionRecorder).

        Use app.session.SessionRecorder.create(folder, source) to make one; the tracking worker takes ownership.
        """
        self._track_w.start_recording(recorder, self.options.stop_timeout_s)

    def stop_recording(self, timeout_s: float | None = None) -> Any:
        """Stop recording; returns the final manifest (None when not recording, or the pipeline already ended)."""
        return self._track_w.stop_recording(timeout_s or self.options.stop_timeout_s)

    # --- internals ------------------------------------------------------------------------------------------
    def _live_stats(self) -> tuple[int, int, float | None]:
        return self._source_w.dropped, self._encode_w.encoded, self.source.duration_s

    def _on_error(self, stage: str, error: BaseException) -> None:
        self._tell_error(stage, error)
        self._done.set()

    def _on_end(self) -> None:
        self._finish(completed=True)  # every upstream stage has passed END on, so the totals are final
        self._done.set()

    def _finish(self, completed: bool) -> PipelineSummary:
        with self._finish_lock:
            if self._summary is not None:
                return self._summary
            self._summary = chain_summary(
                self._source_w, self._pose_w, self._track_w, self._encode_w.busy_s, self._encode_w.encoded,
                self._started_at, self._errors, completed or (self._encode_w.ended and not self._errors))
        for listener in self.listeners:
            listener.on_finished(self._summary)
        return self._summary


def chain_summary(source: SourceWorker, pose: PoseWorker, track: TrackWorker, encoder_busy_s: float, encoded: int,
                  started_at: float | None, errors: list[str], completed: bool) -> PipelineSummary:
    """The totals of one camera's source -> pose -> tracking chain (and the encoder's share of its windows)."""
    times = track.times
    stage_s = {"decode": source.busy_s, "pose": pose.busy_s, **{f"pose.{k}": v for k, v in pose.stage_s.items()},
               **times.seconds, "encoder": encoder_busy_s}
    frames = max(times.frames, 1)
    tracker_stats, buffer_stats = track.counters()
    return PipelineSummary(
        frames=times.frames, frames_read=source.frames, dropped_frames=source.dropped, windows=track.windows_cut,
        windows_encoded=encoded, confirmed_tracks=track.confirmed,
        wall_s=time.monotonic() - (started_at or time.monotonic()), pose_cache_hits=pose.cache_hits,
        pose_estimated=pose.estimated, stage_ms_per_frame={k: 1000.0 * v / frames for k, v in stage_s.items()},
        tracker_stats=tracker_stats, buffer_stats=buffer_stats, errors=tuple(errors), completed=completed)
