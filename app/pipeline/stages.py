"""The four pipeline workers: source, pose, tracking (+ buffer, recording, frame results) and encoder (+ gallery).

    SourceWorker --frames--> PoseWorker --skeletons--> TrackWorker --windows--> EncodeWorker
                                                        ^   |                    |
                                                        |   +--> on_frame        +--> on_match, on_alert
                                                        +------- identities -----+

Every queue is bounded. The source is the only place where a frame may be dropped (live sources, oldest first);
downstream of it every put blocks, so replay is deterministic frame by frame.
"""
from __future__ import annotations

import logging
import queue
import time
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from app.events import AlertEvent, Decision, FrameResult, MatchEvent, TrackView
from app.pipeline.control import PlaybackControl
from reid.errors import SkelwatchError
from app.pipeline.workers import (END, POLL_S, RESET, ErrorHandler, Marker, RateMeter, Stopped, Worker, get, put,
                                  put_drop_oldest)

from capture.buffer import Window, WindowBuffer
from capture.tracking import Tracker, TrackState, TrackUpdate

if TYPE_CHECKING:
    from capture.frames import FrameBundle, Skeleton3D
    from capture.sources import Source

logger = logging.getLogger(__name__)


class Estimator(Protocol):
    """capture.pose.PoseEstimator: skeletons of a frame, and the split of the time the last frame took."""

    last_times: Any  # capture.pose.StageTimes (proposal_s, landmarker_s, lift_s)

    def estimate(self, frame: FrameBundle) -> list[Skeleton3D]: ...


@dataclass(frozen=True)
class Identity:
    """The current identity decision of one track, as the encoder worker last made it."""

    track_id: int
    _: KW_ONLY
    decision: Decision = Decision.PENDING
    identity_id: int | None = None
    identity_name: str | None = None
    confidence: float = 0.0
    level_distances: tuple[float, float, float] | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)  # (D,) running mean MSMR, for the tracker


@dataclass(frozen=True)
class TracksEnded:
    """In-band on the window queue, after the last windows of these tracks: the tracker deleted them, so every
    stage downstream releases what it keeps for them (a week-long run must not grow with every person seen)."""

    track_ids: tuple[int, ...]


@dataclass(frozen=True)
class StartRecording:
    """A command to the tracking worker: record every frame from now on into `recorder`."""

    recorder: "Recorder"


@dataclass(frozen=True)
class StopRecording:
    """A command to the tracking worker: close the recording and put its manifest (or None) into `reply`."""

    reply: queue.Queue


RecordingCommand = StartRecording | StopRecording


@dataclass
class StageTimes:
    """Seconds spent in each stage (busy time, not waiting on queues) and the frames each handled."""

    seconds: dict[str, float] = field(default_factory=dict)
    frames: int = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def per_frame_ms(self) -> dict[str, float]:
        return {k: 1000.0 * v / max(self.frames, 1) for k, v in self.seconds.items()}


class SourceWorker(Worker):
    """Reads the source at its own pace (live) or the playback pace (replay) and feeds the pose queue.

    Live sources drop the oldest waiting frame when pose falls behind (`dropped` counts them); replay blocks.
    With `hold_at_end` the end of a replay pauses instead of ending the stream, so a seek can play it again.
    """

    def __init__(self, source: Source, out: queue.Queue, control: PlaybackControl, drop_oldest: bool,
                 max_seconds: float | None, hold_at_end: bool, on_error: ErrorHandler) -> None:
        super().__init__("source", on_error)
        self.hold_at_end = hold_at_end
        self.at_end = False
        self.source, self.out, self.control = source, out, control
        self.drop_oldest = drop_oldest and source.is_live
        self.max_seconds = max_seconds
        self.dropped = 0
        self.frames = 0
        self.last_index = -1  # the newest frame handed over
        self._first_s: float | None = None

    def run(self) -> None:
        frames = iter(self.source)
        while self.control.wait_turn(self.stop_event):
            target = self.control.take_seek()
            if target is not None:
                try:
                    self.source.seek(target)
                except SkelwatchError as exc:  # a medium that cannot seek: keep playing where it is
                    logger.warning("seek to %.3f s ignored: %s", target, exc)
                else:
                    self.at_end = False
                    frames = iter(self.source)
                    put(self.out, RESET, self.stop_event)
            start = time.perf_counter()
            bundle = next(frames, None)
            self.busy_s += time.perf_counter() - start
            if self._first_s is None and bundle is not None:
                self._first_s = bundle.timestamp_s
            if bundle is None or self._past_limit(bundle.timestamp_s):
                if self.hold_at_end:  # the GUI's replay: wait at the end for a seek (or stop)
                    self.at_end = True
                    self.control.pause()
                    continue
                put(self.out, END, self.stop_event)
                self.ended = True
                return
            self.control.pace(bundle.timestamp_s, self.stop_event)
            self.frames += 1
            self.last_index = bundle.index
            if self.drop_oldest:
                self.dropped += put_drop_oldest(self.out, bundle)
            else:
                put(self.out, bundle, self.stop_event)

    def _past_limit(self, timestamp_s: float) -> bool:
        return self.max_seconds is not None and timestamp_s - self._first_s >= self.max_seconds - 1e-9

    def close(self) -> None:
        self.source.close()


def skeletons_from_truth(bundle: FrameBundle) -> list[Skeleton3D]:
    """Skeletons handed over with the frame, fully confident; projected to pixels when the frame has intrinsics."""
    from capture.frames import Skeleton3D

    out = []
    intr = bundle.intrinsics
    for truth in bundle.truth:
        joints = np.asarray(truth.joints, dtype=np.float32)  # (20, 3) camera frame metres
        keypoints, box = None, None
        if intr is not None and (joints[:, 2] > 0.05).all():
            keypoints = intr.project(joints).astype(np.float32)  # (20, 2) pixels
            lo, hi = keypoints.min(axis=0), keypoints.max(axis=0)
            box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        out.append(Skeleton3D(joints=joints, confidence=np.ones(len(joints), dtype=np.float32), box=box,
                              timestamp_s=bundle.timestamp_s, frame_index=bundle.index, keypoints_2d=keypoints))
    return out


class PoseWorker(Worker):
    """Turns frames into skeletons: from the skeleton cache, from the frame's truth, or by running pose.

    `skeletons_given` says the source hands over every person's skeleton with its frames (the synthetic scene, a
    recording with a truth sidecar): pose never runs then, not even on a frame without anyone. Frames without
    an image (skeleton files, a cache-only replay) never run pose either.

    The estimator is built on this thread by `make_estimator` the first time a frame needs it, so a replay served
    entirely from the cache never loads MediaPipe.
    """

    def __init__(self, make_estimator: Callable[[], Estimator] | None, cache: dict[int, list[Skeleton3D]] | None,
                 skeletons_given: bool, inp: queue.Queue, out: queue.Queue, on_error: ErrorHandler) -> None:
        super().__init__("pose", on_error)
        self.make_estimator, self.cache, self.skeletons_given = make_estimator, cache or {}, skeletons_given
        self.inp, self.out = inp, out
        self.estimator: Estimator | None = None
        self.cache_hits = 0
        self.estimated = 0
        self.stage_s: dict[str, float] = {}  # pose's own split of its time (proposal, landmarker, lift)
        self.load_s = 0.0  # building the estimator (loading MediaPipe), kept out of the per-frame figures

    def skeletons_for(self, bundle: FrameBundle) -> list[Skeleton3D]:
        """The frame's skeletons: cached, given with the frame (synthetic scene, skeleton files), or estimated."""
        cached = self.cache.get(bundle.index)
        if cached is not None:
            self.cache_hits += 1
            return cached
        if bundle.truth or self.skeletons_given or bundle.color is None or self.make_estimator is None:
            # A source that hands over skeletons lists every person, so an empty frame means nobody.
            return skeletons_from_truth(bundle)
        if self.estimator is None:
            start = time.perf_counter()
            self.estimator = self.make_estimator()
            self.load_s += time.perf_counter() - start
        self.estimated += 1
        skeletons = list(self.estimator.estimate(bundle))
        parts = self.estimator.last_times  # the split of its time, for the benchmark
        for stage, seconds in (("proposal", parts.proposal_s), ("landmarker", parts.landmarker_s),
                               ("lift", parts.lift_s)):
            self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds
        return skeletons

    def run(self) -> None:
        while True:
            item = get(self.inp, self.stop_event)
            if isinstance(item, Marker):
                put(self.out, item, self.stop_event)
                if item is END:
                    self.ended = True
                    return
                continue
            start, loading = time.perf_counter(), self.load_s
            skeletons = self.skeletons_for(item)
            self.busy_s += time.perf_counter() - start - (self.load_s - loading)
            put(self.out, (item, skeletons), self.stop_event)

    def close(self) -> None:
        close = getattr(self.estimator, "close", None)
        if close is not None:
            close()


class Recorder(Protocol):
    """What the tracking worker records each frame to (app.session.SessionRecorder)."""

    def record(self, bundle: FrameBundle, skeletons: list[Skeleton3D],
               tracks: list[tuple[int, TrackState, np.ndarray]]) -> None: ...

    def flush_if_due(self) -> None: ...

    def close(self, dropped_frames: int) -> Any: ...


class TrackWorker(Worker):
    """Tracks skeletons, cuts windows, records, and emits one `FrameResult` per frame.

    It owns the tracker, the buffer, the recorder and the identity table (fed by the encoder through
    `identities`), so none of them needs a lock. A seek (`RESET`) replaces tracker and buffer with new ones:
    time restarts there, and no window may span the jump.

    Windows go to the encoder every `encode_every` frames (or as soon as `encode_batch` wait): one forward pass
    for several frames' windows costs little more than for one frame's.

    `synchronous` (replay): before the next frame, wait for the identities (and embeddings, which steer the
    tracker's re-acquisition) of the windows just sent, so a replay's tracks never depend on thread timing. Live
    runs take identities whenever they arrive instead; decode and pose still overlap with tracking either way.
    """

    def __init__(self, make_tracker: Callable[[], Tracker], make_buffer: Callable[[], WindowBuffer],
                 inp: queue.Queue, windows_out: queue.Queue, identities: queue.Queue, commands: queue.Queue,
                 on_frame: Callable[[FrameResult], None], stats: Callable[[], tuple[int, int, float | None]],
                 encode_batch: int, encode_every: int, synchronous: bool, on_error: ErrorHandler) -> None:
        super().__init__("tracking", on_error)
        self.synchronous = synchronous
        self.awaiting = 0  # windows sent whose identity has not come back yet
        self.make_tracker, self.make_buffer = make_tracker, make_buffer
        self.tracker, self.buffer = make_tracker(), make_buffer()
        self.inp, self.windows_out, self.identities, self.commands = inp, windows_out, identities, commands
        self.on_frame, self.stats, self.encode_batch = on_frame, stats, encode_batch
        self.encode_every = encode_every
        self._frames_since_flush = 0
        self.recorder: Recorder | None = None
        self.table: dict[int, Identity] = {}
        self.last_seen: dict[int, Skeleton3D] = {}  # each track's last assigned skeleton, shown while it coasts
        self.meter = RateMeter()
        self.times = StageTimes()
        self.track_ids: set[int] = set()
        self.windows_cut = 0
        self._ended: list[int] = []  # deleted tracks, announced downstream after their last windows

    def _apply_commands(self) -> None:
        while True:
            try:
                command: RecordingCommand = self.commands.get_nowait()
            except queue.Empty:
                return
            if isinstance(command, StartRecording):
                if self.recorder is not None:
                    self.recorder.close(self.stats()[0])
                self.recorder = command.recorder
            else:
                command.reply.put(None if self.recorder is None else self.recorder.close(self.stats()[0]))
                self.recorder = None

    def _update_identities(self) -> None:
        live = {t.track_id for t in self.tracker.tracks}
        while True:
            if self.synchronous and self.awaiting > 0:
                identity: Identity = get(self.identities, self.stop_event)
                self.awaiting -= 1
            else:
                try:
                    identity = self.identities.get_nowait()
                except queue.Empty:
                    return
            if identity.track_id not in live:  # the answer for a deleted track's last windows
                continue
            self.table[identity.track_id] = identity
            if identity.embedding is not None:
                self.tracker.set_embedding(identity.track_id, identity.embedding)

    def _next_item(self) -> Any:
        """The next queued item; recording commands are applied while waiting (a paused replay records too)."""
        while True:
            self._apply_commands()
            try:
                item = self.inp.get(timeout=POLL_S)
            except queue.Empty:
                if self.stop_event.is_set():
                    raise Stopped from None
                if self.recorder is not None:  # no frame now (paused, slow camera): still reach the disk in time
                    self.recorder.flush_if_due()
                continue
            self._apply_commands()  # a recording asked for before this frame arrived includes it
            return item

    def run(self) -> None:
        while True:
            item = self._next_item()
            if item is RESET:
                self.tracker, self.buffer = self.make_tracker(), self.make_buffer()
                self.table.clear()
                self.last_seen.clear()
                self._ended.clear()
                put(self.windows_out, item, self.stop_event)
                continue
            if item is END:
                for track_id in self.buffer.track_ids:  # the tails of tracks still open at the end
                    self.buffer.end(track_id)
                self._flush_windows()
                put(self.windows_out, END, self.stop_event)
                self.ended = True
                return
            self._process(*item)

    def _flush_windows(self) -> None:
        self._frames_since_flush = 0
        windows = self.buffer.drain(self.encode_batch)
        while windows:
            self.windows_cut += len(windows)
            self.awaiting += len(windows)
            put(self.windows_out, windows, self.stop_event)
            windows = self.buffer.drain(self.encode_batch)
        if self._ended:
            put(self.windows_out, TracksEnded(tuple(self._ended)), self.stop_event)
            self._ended = []

    def _process(self, bundle: FrameBundle, skeletons: list[Skeleton3D]) -> None:
        start = time.perf_counter()
        updates = self.tracker.update(skeletons, bundle.timestamp_s)
        events = self.tracker.pop_events()
        tracked = time.perf_counter()
        self.buffer.update(updates, events)
        for event in events:
            if event.kind == "reacquired" and event.other_id is not None:
                self._release(event.other_id)
        self._frames_since_flush += 1
        if self._frames_since_flush >= self.encode_every or self.buffer.pending >= self.encode_batch:
            self._flush_windows()  # on a fixed frame count, so a replay batches the same way every time
        self.times.add("tracking", tracked - start)
        self.times.add("buffer", time.perf_counter() - tracked)
        self._update_identities()
        views = tuple(v for v in (self._view(u) for u in updates) if v is not None)
        self.track_ids.update(v.track_id for v in views if v.state == "confirmed")
        if self.recorder is not None:
            start = time.perf_counter()
            observed = [(u.track_id, u.state, u.skeleton.joints) for u in updates if u.skeleton is not None]
            self.recorder.record(bundle, skeletons, observed)
            self.times.add("record", time.perf_counter() - start)
        self.times.frames += 1
        dropped, encoded, duration = self.stats()
        self.on_frame(FrameResult(frame_index=bundle.index, timestamp_s=bundle.timestamp_s, color=bundle.color,
                                  depth_m=bundle.depth_m, tracks=views, fps=self.meter.tick(),
                                  dropped_frames=dropped, duration_s=duration, windows_encoded=encoded))

    def _view(self, update: TrackUpdate) -> TrackView | None:
        """What the screen shows of one track; None for a deleted one."""
        if update.state is TrackState.DELETED:
            self._release(update.track_id)
            return None
        skeleton = update.skeleton or self.last_seen.get(update.track_id)
        if skeleton is None:
            return None
        self.last_seen[update.track_id] = skeleton
        identity = self.table.get(update.track_id, Identity(update.track_id))
        return TrackView(track_id=update.track_id, state=update.state, joints_3d=skeleton.joints,
                         keypoints_2d=skeleton.keypoints_2d if update.skeleton is not None else None,
                         confidence=skeleton.confidence, age_s=update.age_s,
                         identity_id=identity.identity_id, identity_name=identity.identity_name,
                         match_confidence=identity.confidence, decision=identity.decision,
                         level_distances=identity.level_distances, observed=update.skeleton is not None)

    def _release(self, track_id: int) -> None:
        """A track ended (deleted, or merged into the lost track it turned out to be): drop what this stage
        keeps for it, and tell the encoder stage after the track's last windows."""
        self.last_seen.pop(track_id, None)
        self.table.pop(track_id, None)
        self._ended.append(track_id)

    def state_sizes(self) -> dict[str, int]:
        """Tracks each per-track structure of this stage holds (what a long run must keep bounded)."""
        return {"identity table": len(self.table), "last seen": len(self.last_seen),
                "tracker tracks": len(self.tracker.tracks), "buffer tracks": len(self.buffer.track_ids)}

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close(self.stats()[0])
            self.recorder = None


class Matcher(Protocol):
    """Turns encoded windows into identity decisions (the gallery and the track voter)."""

    def decide(self, windows: list[Window], embeddings: np.ndarray) -> tuple[list[Identity], list[AlertEvent]]: ...

    def end_track(self, track_id: int) -> None: ...

    def state_sizes(self) -> dict[str, int]: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class EncodeWorker(Worker):
    """Encodes windows in batches with Hi-MPC and asks the matcher (if any) who each track is.

    Without a matcher (no gallery) every encoded track is "unknown". Each track's running mean embedding goes
    back to the tracker (through the identity), which uses it to tell a returning person from a new one.
    """

    def __init__(self, make_encoder: Callable[[], Callable[[np.ndarray], np.ndarray]] | None,
                 make_matcher: Callable[[], Matcher] | None, inp: queue.Queue, identities: queue.Queue,
                 on_match: Callable[[MatchEvent], None], on_alert: Callable[[Any], None], batch: int,
                 on_finished: Callable[[], None], on_error: ErrorHandler) -> None:
        super().__init__("encoder", on_error)
        self.make_encoder, self.make_matcher = make_encoder, make_matcher
        self.inp, self.identities, self.batch = inp, identities, batch
        self.on_match, self.on_alert, self.on_finished = on_match, on_alert, on_finished
        self.encoded = 0
        self.matcher: Matcher | None = None
        self._sums: dict[int, np.ndarray] = {}  # track id -> sum of its L2-normalised embeddings
        self._held: Any = None  # a marker taken while filling a batch, handled next

    def _next_batch(self) -> Any:
        """A marker, or up to `batch` windows from however many queued lists are waiting."""
        if self._held is not None:
            item, self._held = self._held, None
            return item
        item = get(self.inp, self.stop_event)
        if isinstance(item, (Marker, TracksEnded)):
            return item
        windows = list(item)
        while len(windows) < self.batch:
            try:
                more = self.inp.get_nowait()
            except queue.Empty:
                break
            if isinstance(more, (Marker, TracksEnded)):
                self._held = more
                break
            windows.extend(more)
        return windows

    def run(self) -> None:
        encode = self.make_encoder() if self.make_encoder is not None else None
        self.matcher = self.make_matcher() if self.make_matcher is not None else None
        while True:
            item = self._next_batch()
            if item is RESET:
                self._sums.clear()
                if self.matcher is not None:
                    self.matcher.reset()
                continue
            if isinstance(item, TracksEnded):
                for track_id in item.track_ids:
                    self._sums.pop(track_id, None)
                    if self.matcher is not None:
                        self.matcher.end_track(track_id)
                continue
            if item is END:
                self.ended = True
                self.on_finished()
                return
            start = time.perf_counter()
            for i in range(0, len(item), self.batch):
                self._encode(item[i : i + self.batch], encode)
            self.busy_s += time.perf_counter() - start

    def _encode(self, windows: list[Window], encode: Callable[[np.ndarray], np.ndarray] | None) -> None:
        if encode is None:  # tracking-only runs: every window is answered, so a synchronous tracker never waits
            for window in windows:
                put_drop_oldest(self.identities, Identity(window.track_id))
            return
        data = np.stack([w.data for w in windows]).astype(np.float32, copy=False)  # (B, f, 20, 3)
        embeddings = np.asarray(encode(data), dtype=np.float32)  # (B, 3H)
        self.encoded += len(windows)
        if self.matcher is not None:
            identities, alerts = self.matcher.decide(windows, embeddings)
        else:
            identities, alerts = [Identity(w.track_id, decision=Decision.UNKNOWN) for w in windows], []
        for window, identity, embedding in zip(windows, identities, embeddings):
            norm = float(np.linalg.norm(embedding))
            total = self._sums.get(window.track_id, 0.0) + (embedding / norm if norm > 0 else embedding)
            self._sums[window.track_id] = total
            identity = replace(identity, embedding=total if np.linalg.norm(total) > 0 else None)
            put_drop_oldest(self.identities, identity)
            self.on_match(MatchEvent(timestamp_s=window.t_end_s, track_id=window.track_id,
                                     start_s=window.t_start_s, frames=int(window.data.shape[0]),
                                     decision=identity.decision, identity_id=identity.identity_id,
                                     identity_name=identity.identity_name, confidence=identity.confidence))
        for alert in alerts:
            self.on_alert(alert)

    def state_sizes(self) -> dict[str, int]:
        sizes = {"embedding sums": len(self._sums)}
        matcher = self.matcher
        if matcher is not None:
            sizes.update(matcher.state_sizes())
        return sizes

    def close(self) -> None:
        if self.matcher is not None:
            self.matcher.close()
