"""The tracking worker: tracker, window buffer, recording and one `FrameResult` per frame.

It releases what it keeps for a track when the tracker deletes it, and tells the encoder stage after the
track's last windows (`TracksEnded`), so a long run stays bounded by the people in view.
"""
from __future__ import annotations

import logging
import queue
import time
from typing import TYPE_CHECKING, Any, Callable

from app.events import FrameResult, IdentityDecision, TrackView
from app.pipeline.seams import (Recorder, RecordingCommand, StageTimes, StartRecording, StopRecording, TrackDecision,
                                TracksEnded)
from app.pipeline.workers import END, POLL_S, RESET, ErrorHandler, RateMeter, Stopped, Worker, get, put
from capture.buffer import WindowBuffer
from capture.stats import BufferStats, TrackerStats
from capture.tracking import Tracker, TrackState, TrackUpdate

if TYPE_CHECKING:
    from capture.frames import FrameBundle, Skeleton3D

logger = logging.getLogger(__name__)


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

    def __init__(self, make_tracker: Callable[..., Tracker], make_buffer: Callable[[], WindowBuffer],
                 inp: queue.Queue, windows_out: queue.Queue, identities: queue.Queue, commands: queue.Queue,
                 on_frame: Callable[[FrameResult], None], stats: Callable[[], tuple[int, int, float | None]],
                 encode_batch: int, encode_every: int, synchronous: bool, on_error: ErrorHandler,
                 metric: bool = True, camera: str = "") -> None:
        super().__init__("tracking", on_error)
        self.camera = camera  # named on every frame and track, so several cameras' events can be told apart
        self.metric = metric  # the source's skeletons were placed through depth (else tracked in the image)
        self.synchronous = synchronous
        self.awaiting = 0  # windows sent whose identity has not come back yet
        self.make_tracker, self.make_buffer = make_tracker, make_buffer
        self.tracker, self.buffer = make_tracker(), make_buffer()
        self.inp, self.windows_out, self.identities, self.commands = inp, windows_out, identities, commands
        self.on_frame, self.stats, self.encode_batch = on_frame, stats, encode_batch
        self.encode_every = encode_every
        self._frames_since_flush = 0
        self.recorder: Recorder | None = None
        self.table: dict[int, TrackDecision] = {}
        self.last_seen: dict[int, Skeleton3D] = {}  # each track's last assigned skeleton, shown while it coasts
        self.meter = RateMeter()
        self.times = StageTimes()
        self.confirmed = 0  # a count, not the ids: a camera that runs for weeks keeps nothing per track
        self.windows_cut = 0
        self._ended: list[int] = []  # deleted tracks, announced downstream after their last windows
        self._past = (TrackerStats(), BufferStats())  # counters of the tracker and buffer a seek replaced

    def start_recording(self, recorder: Recorder, timeout_s: float) -> None:
        """From another thread: record every frame from the next one on into `recorder` (this worker owns it)."""
        self.commands.put(StartRecording(recorder), timeout=timeout_s)

    def stop_recording(self, timeout_s: float) -> Any:
        """From another thread: close the recording; returns its final manifest, or None when not recording or
        when this worker has ended (it closed the recorder itself)."""
        reply: queue.Queue = queue.Queue(1)
        self.commands.put(StopRecording(reply), timeout=timeout_s)
        if not self.alive:
            return None
        try:
            return reply.get(timeout=timeout_s)
        except queue.Empty:
            return None

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
                identity: TrackDecision = get(self.identities, self.stop_event)
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
                self._past = self.counters()
                # A seek (or a replay that loops) starts tracking afresh; ids go on from the last one given, so
                # a track list, the votes and the sightings never see one id for two people. The tracks of before
                # are over: announced as ended (the matcher releases them, only this camera's when several share
                # it), their unsent windows dropped (no window may span the jump).
                ended = {t.track_id for t in self.tracker.tracks} | set(self.buffer.track_ids) | set(self._ended)
                self._ended = []
                if ended:
                    put(self.windows_out, TracksEnded(tuple(sorted(ended))), self.stop_event)
                self.tracker = self.make_tracker(first_id=self.tracker.next_id)
                self.buffer = self.make_buffer()
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

    def counters(self) -> tuple[TrackerStats, BufferStats]:
        """Where the skeletons went so far (tracker, buffer), summed over seeks."""
        return self._past[0].merged(self.tracker.stats), self._past[1].merged(self.buffer.stats)

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
        # Without depth a skeleton's 3D position is a guess from its pixel height: associate in the image.
        updates = self.tracker.update(skeletons, bundle.timestamp_s, metric=self.metric)
        events = self.tracker.pop_events()
        tracked = time.perf_counter()
        self.buffer.update(updates, events)
        self.confirmed += sum(event.kind == "confirmed" for event in events)
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
        if self.recorder is not None:
            start = time.perf_counter()
            observed = [(u.track_id, u.state, u.skeleton.joints) for u in updates if u.skeleton is not None]
            self.recorder.record(bundle, skeletons, observed)
            self.times.add("record", time.perf_counter() - start)
        self.times.frames += 1
        dropped, encoded, duration = self.stats()
        self.on_frame(FrameResult(frame_index=bundle.index, timestamp_s=bundle.timestamp_s, color=bundle.color,
                                  depth_m=bundle.depth_m, tracks=views, fps=self.meter.tick(),
                                  dropped_frames=dropped, duration_s=duration, windows_encoded=encoded,
                                  camera=self.camera))

    def _view(self, update: TrackUpdate) -> TrackView | None:
        """What the screen shows of one track; None for a deleted one."""
        if update.state is TrackState.DELETED:
            self._release(update.track_id)
            return None
        skeleton = update.skeleton or self.last_seen.get(update.track_id)
        if skeleton is None:
            return None
        self.last_seen[update.track_id] = skeleton
        decided = self.table.get(update.track_id)
        return TrackView(track_id=update.track_id, state=update.state, joints_3d=skeleton.joints,
                         keypoints_2d=skeleton.keypoints_2d if update.skeleton is not None else None,
                         confidence=skeleton.confidence, age_s=update.age_s,
                         box=update.skeleton.box if update.skeleton is not None else None,
                         identity=decided.identity if decided is not None else IdentityDecision(),
                         observed=update.skeleton is not None, camera=self.camera)

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
