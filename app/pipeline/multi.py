"""Several cameras in one process: one source -> pose -> tracking chain per camera, one encoder and gallery.

    camera A: source --> pose --> tracking --\
    camera B: source --> pose --> tracking ---+--windows--> encoder + matcher (one model, one gallery)
              tracking <--identities (by track id)--------/

Why one encoder worker fed by every camera rather than one Pipeline per camera: the gallery's matcher (its
database connection, faiss index, votes and the hand-off book) belongs to one thread, and hand-off needs every
camera's tracks in one place. Each camera's tracker gives out ids k + 1, k + 1 + N, ... (camera k of N), so ids
are unique across cameras and each answer finds its camera's tracking worker. Replay never drops a frame and
waits for its identities per camera, as a single Pipeline does; the cameras are not paced against each other
beyond each reading at real time, except that recordings replayed as fast as possible go in step (`MediaClock`):
a hand-off needs the track that left camera A in the book before the track that enters camera B is matched.

A camera whose source fails mid-run is reported (naming it) and ends on its own; the others keep going.
Recording goes through each camera's tracking worker, as in `Pipeline` (one recorder per camera:
app.session_cameras.MultiSessionRecorder makes them, one session sub-folder each).
Pause, resume, step, speed and seek apply to every camera (each keeps its own PlaybackControl, steered as one by a
ControlGroup), and the window's replays hold at their end (`hold_at_end`). A seek reaches each camera's chain on
its own: each tracking worker ends its camera's tracks (the shared matcher releases those alone) and starts a new
tracker whose ids go on from the last, and the encoder forgets the hand-off book once every camera has reset.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from app.pipeline.control import ControlError, ControlGroup, PlaybackControl
from app.pipeline.encode_stage import EncodeWorker
from app.pipeline.runner import Broadcaster, Listener, PipelineOptions, PipelineSummary, Steerable, chain_summary
from app.pipeline.seams import Estimator, Matcher, Recorder
from app.pipeline.stages import PoseWorker, SourceWorker
from app.pipeline.track_stage import TrackWorker
from app.pipeline.workers import END, Stopped, Worker, drain, put

if TYPE_CHECKING:
    from capture.buffer import WindowBuffer
    from capture.frames import Skeleton3D
    from capture.sources import Source
    from capture.tracking import Tracker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Camera:
    """One camera of a MultiPipeline: the name its tracks carry, its source, and whether the source's frames
    carry every person's skeleton (then pose never runs; see app.compose.gives_skeletons), or a skeleton cache."""

    name: str
    source: Source
    skeletons_given: bool = False
    skeleton_cache: dict[int, list[Skeleton3D]] | None = None  # a recorded session's (pose never runs on it)


class MediaClock:
    """Keeps replayed cameras within `lead_s` of media time of each other: a camera's source waits before a frame
    while another camera that has not ended is further behind. Live cameras are in step by nature."""

    def __init__(self, lead_s: float = 0.5) -> None:
        self.lead_s = lead_s
        self._cond = threading.Condition()
        self._at: dict[int, float] = {}
        self._ended: dict[int, Callable[[], bool]] = {}

    def join(self, camera: int, ended: Callable[[], bool]) -> None:
        """Register a replayed camera; `ended` tells when it no longer holds the others back."""
        self._at[camera] = float("-inf")
        self._ended[camera] = ended

    def advance(self, camera: int, t_s: float, stop: threading.Event, seeking: Callable[[], bool]) -> None:
        """Camera `camera` is about to hand over its frame at `t_s`: wait for the cameras behind it, unless it
        is to seek (`seeking`): a frame read before a seek back would otherwise wait for the others to catch up."""
        with self._cond:
            self._at[camera] = t_s
            self._cond.notify_all()
            while not stop.is_set() and not seeking() and any(at < t_s - self.lead_s and not self._ended[k]()
                                                               for k, at in self._at.items() if k != camera):
                self._cond.wait(0.05)  # a camera that ends or fails never notifies: look again soon


class _SteppedControl(PlaybackControl):
    """Playback control of one replayed camera that also keeps it in step with the others (`MediaClock`)."""

    def __init__(self, speed: float | None, clock: MediaClock, camera: int) -> None:
        super().__init__(speed, paced=True)
        self.clock, self.camera = clock, camera

    def pace(self, timestamp_s: float, stop: threading.Event) -> None:
        super().pace(timestamp_s, stop)
        self.clock.advance(self.camera, timestamp_s, stop, lambda: self.seek_pending)


class _Chain:
    """One camera's workers and queues (source -> pose -> tracking)."""

    def __init__(self, camera: Camera, index: int, clock: MediaClock, make_tracker: Callable[..., Tracker],
                 make_buffer: Callable[[], WindowBuffer], make_estimator: Callable[[], Estimator] | None,
                 windows: queue.Queue, options: PipelineOptions, on_frame: Callable[[Any], None],
                 on_error: Callable[[str, BaseException], None],
                 on_source_error: Callable[[_Chain, BaseException], None], encoded: Callable[[], int]) -> None:
        o, source = options, camera.source
        self.camera = camera
        self.failure: str | None = None  # why this camera was left out (its source failed mid-run)
        if source.is_live:
            self.control = PlaybackControl(o.speed, paced=False)
        else:
            self.control = _SteppedControl(o.speed, clock, index)
            # a replay holding at its end holds nobody back either (the others play on to theirs)
            clock.join(index, lambda: self.source_w.ended or self.source_w.at_end or self.failure is not None)
        self.frames_q: queue.Queue = queue.Queue(o.frame_queue)
        self.skeletons_q: queue.Queue = queue.Queue(o.skeleton_queue)
        self.identities_q: queue.Queue = queue.Queue(1024)
        self.source_w = SourceWorker(source, self.frames_q, self.control, o.drop_oldest, o.max_seconds,
                                     o.hold_at_end and not source.is_live,
                                     lambda _stage, error: on_source_error(self, error))

        def named(stage: str, error: BaseException) -> None:  # errors of this chain name its camera
            on_error(f"{camera.name} {stage}", error)

        self.pose_w = PoseWorker(make_estimator, camera.skeleton_cache, camera.skeletons_given, self.frames_q,
                                 self.skeletons_q, named)
        self.track_w = TrackWorker(make_tracker, make_buffer, self.skeletons_q, windows, self.identities_q,
                                   queue.Queue(1), on_frame, lambda: (self.source_w.dropped, encoded(),
                                                                      source.duration_s),
                                   o.encode_batch, o.encode_every, not source.is_live, named,
                                   metric=source.metric_skeletons, camera=camera.name)

    def end_stream(self) -> None:
        """End this camera's stream after its source failed (on the source's thread), so the others go on."""
        try:
            put(self.frames_q, END, self.source_w.stop_event)
        except Stopped:
            pass

    @property
    def workers(self) -> tuple[Worker, ...]:
        return self.track_w, self.pose_w, self.source_w


class MultiPipeline(Broadcaster, Steerable):
    """Cameras -> (pose, tracking per camera) -> one encoder + matcher; the headless run of several cameras.

    Args:
        cameras: the cameras, with distinct names.
        make_tracker: camera index -> that camera's tracker factory (ids k + 1 stepping by len(cameras)).
        make_buffer, make_estimator, make_encoder, make_matcher: as for `Pipeline` (one encoder and one matcher
            serve every camera).
        listeners: get every camera's frames (FrameResult.camera tells them apart) and matches; `on_finished`
            once per camera.
        options: as for `Pipeline`; with hold_at_end each replayed camera pauses at its end (`at_end` once all
            have), and the stream never ends on its own.
    Raises:
        ValueError: no camera, or two with one name.
    """

    def __init__(self, cameras: Sequence[Camera], make_tracker: Callable[[int], Callable[..., Tracker]],
                 make_buffer: Callable[[], WindowBuffer], *, make_estimator: Callable[[], Estimator] | None = None,
                 make_encoder: Callable[[], Callable[[Any], Any]] | None = None,
                 make_matcher: Callable[[], Matcher] | None = None, options: PipelineOptions | None = None,
                 listeners: tuple[Listener, ...] = ()) -> None:
        names = [c.name for c in cameras]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"cameras {names}: give one or more, each with its own name")
        self.options = o = options or PipelineOptions()
        self.listeners = list(listeners)
        self._errors: list[str] = []
        self.failure: tuple[str, BaseException] | None = None  # the shared stage that failed (all stop)
        self._done = threading.Event()
        self._finish_lock = threading.Lock()
        self._summaries: dict[str, PipelineSummary] | None = None
        self._started_at: float | None = None
        self._windows_q: queue.Queue = queue.Queue(o.window_queue)
        clock = MediaClock()
        self._chains = [_Chain(camera, k, clock, make_tracker(k), make_buffer, make_estimator, self._windows_q, o,
                               self._emit_frame, self._on_error, self._camera_failed, self._encoded(k))
                        for k, camera in enumerate(cameras)]
        self._encode_w = EncodeWorker(make_encoder, make_matcher, self._windows_q,
                                      [c.identities_q for c in self._chains], self._emit_match, self._emit_alert,
                                      o.encode_batch, self._on_end, self._on_error, cameras=names)
        self.control = ControlGroup([c.control for c in self._chains],
                                    lambda: [c.control for c in self._chains if c.source_w.alive])
        # Start order (consumers first); stop goes the other way.
        self._workers: tuple[Worker, ...] = (self._encode_w, *(w for c in self._chains for w in c.workers))

    def start(self) -> None:
        """Start every worker. Returns at once."""
        self._started_at = time.monotonic()
        for worker in self._workers:
            worker.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every camera's stream has ended (or a shared stage failed); False on timeout."""
        return self._done.wait(timeout_s)

    def stop(self) -> dict[str, PipelineSummary]:
        """Stop every worker in reverse start order and return each camera's summary (idempotent)."""
        for worker in reversed(self._workers):
            worker.request_stop()
            if not worker.join(self.options.stop_timeout_s):
                logger.error("pipeline worker %s did not stop within %.1f s", worker.name, self.options.stop_timeout_s)
        for chain in self._chains:
            for q in (chain.frames_q, chain.skeletons_q, chain.identities_q):
                drain(q)
        drain(self._windows_q)
        return self._finish(completed=False)

    def run(self) -> dict[str, PipelineSummary]:
        """Start, wait for the end of every stream, stop."""
        self.start()
        try:
            self.wait()
        finally:
            summaries = self.stop()
        return summaries

    def start_recording(self, recorders: Mapping[str, Recorder]) -> None:
        """Record every frame processed from now on: camera name -> its recorder (its tracking worker owns it).

        Raises:
            ValueError: a name that is not one of the cameras.
        """
        chains = {c.camera.name: c for c in self._chains}
        unknown = sorted(set(recorders) - set(chains))
        if unknown:
            raise ValueError(f"recorders for {unknown}: no such camera; the cameras are {sorted(chains)}")
        for name, recorder in recorders.items():
            chains[name].track_w.start_recording(recorder, self.options.stop_timeout_s)

    def stop_recording(self) -> dict[str, Any]:
        """Stop every camera's recording; camera name -> its final manifest (None when it was not recording)."""
        return {c.camera.name: c.track_w.stop_recording(self.options.stop_timeout_s) for c in self._chains}

    def seek(self, t_s: float) -> None:
        """Every camera to media time `t_s` of the shared clock (replays only); tracks and windows restart there.

        Raises:
            ControlError: a camera is live.
        """
        live = [c.camera.name for c in self._chains if c.camera.source.is_live]
        if live:
            raise ControlError(f"cameras {', '.join(live)} are live: several cameras seek only when every one "
                               "is a recording")
        self.control.seek(t_s)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def at_end(self) -> bool:
        """Built with hold_at_end: every camera still reading has reached its end and is paused there."""
        sources = [c.source_w for c in self._chains]
        return any(s.at_end for s in sources) and all(s.at_end or not s.alive for s in sources)

    @property
    def cameras(self) -> tuple[Camera, ...]:
        """The cameras, in the order given (camera k's tracker gives out ids k + 1, k + 1 + N, ...)."""
        return tuple(c.camera for c in self._chains)

    @property
    def failed_cameras(self) -> dict[str, str]:
        """camera name -> why it was left out (its source failed mid-run)."""
        return {c.camera.name: c.failure for c in self._chains if c.failure is not None}

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(self._errors)

    def _encoded(self, k: int) -> Callable[[], int]:
        return lambda: self._encode_w.encoded_by_camera[k]

    def _on_error(self, stage: str, error: BaseException) -> None:
        """A shared stage (or a camera's pose or tracking) failed: the whole pipeline stops."""
        self._tell_error(stage, error)
        if self.failure is None:
            self.failure = (stage, error)
        self._done.set()

    def _camera_failed(self, chain: _Chain, error: BaseException) -> None:
        """A camera's source broke mid-run: name the camera and the fix, end its stream, keep the others."""
        camera = chain.camera
        if chain.source_w.ended or chain.failure is not None:  # closing after its end, or a second report
            self._tell_error(f"{camera.name} source", error)
            return
        chain.failure = (f"camera {camera.name} ({camera.source.name}) failed and was left out: {error}; check "
                         "its cable or file, then start again to include it")
        logger.error("%s", chain.failure)
        self._tell_error(f"{camera.name} source", error)
        chain.end_stream()

    def _on_end(self) -> None:
        self._finish(completed=True)
        self._done.set()

    def _finish(self, completed: bool) -> dict[str, PipelineSummary]:
        with self._finish_lock:
            if self._summaries is not None:
                return self._summaries
            encoder = self._encode_w
            self._summaries = {
                c.camera.name: chain_summary(c.source_w, c.pose_w, c.track_w, encoder.busy_s,
                                             encoder.encoded_by_camera[k], self._started_at,
                                             [e for e in self._errors if e.startswith(f"{c.camera.name} ")],
                                             (completed or encoder.ended) and c.failure is None)
                for k, c in enumerate(self._chains)}
        for summary in self._summaries.values():
            for listener in self.listeners:
                listener.on_finished(summary)
        return self._summaries
