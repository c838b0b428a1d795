"""The encoder worker: Hi-MPC on batches of windows, then the matcher (gallery, votes, sightings, alerts)."""
from __future__ import annotations

import logging
import queue
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from app.events import Decision, IdentityDecision, MatchEvent
from app.pipeline.seams import Matcher, TrackDecision, TracksEnded, camera_index
from app.pipeline.workers import END, RESET, ErrorHandler, Marker, Worker, get, put_drop_oldest
from capture.buffer import Window

logger = logging.getLogger(__name__)


class EncodeWorker(Worker):
    """Encodes windows in batches with Hi-MPC and asks the matcher (if any) who each track is.

    Without a matcher (no gallery) every encoded track is "unknown". Each track's running mean embedding goes
    back to the tracker (through the identity), which uses it to tell a returning person from a new one.

    Several cameras share one encoder: their tracking workers feed one window queue, `cameras` names them in the
    order of their `identities` queues (a track's answer goes to its own camera's, by `camera_index`), and the
    stream ends when every camera has sent END. A seek sends one RESET per camera, after that camera's tracks
    ended (`TracksEnded`): the matcher forgets what spans cameras (the hand-off book) once all of them have reset.
    """

    def __init__(self, make_encoder: Callable[[], Callable[[np.ndarray], np.ndarray]] | None,
                 make_matcher: Callable[[], Matcher] | None, inp: queue.Queue, identities: Sequence[queue.Queue],
                 on_match: Callable[[MatchEvent], None], on_alert: Callable[[Any], None], batch: int,
                 on_finished: Callable[[], None], on_error: ErrorHandler, cameras: Sequence[str] = ("",)) -> None:
        super().__init__("encoder", on_error)
        if len(cameras) != len(identities):
            raise ValueError(f"encoder: {len(cameras)} camera names for {len(identities)} identity queues")
        self.make_encoder, self.make_matcher = make_encoder, make_matcher
        self.inp, self.identities, self.batch, self.cameras = inp, tuple(identities), batch, tuple(cameras)
        self._open = len(self.identities)  # cameras whose stream has not ended
        self._resets = 0  # cameras that have reset since the last seek every open camera took
        self.encoded_by_camera = [0] * len(self.identities)
        self.on_match, self.on_alert, self.on_finished = on_match, on_alert, on_finished
        self.encoded = 0
        self.matcher: Matcher | None = None
        # track id -> (sum, count) of its window embeddings: the tracker compares their mean with the gallery's
        # distance, so it stays on the encoder's scale (normalised vectors of any two people are near-parallel)
        self._sums: dict[int, tuple[np.ndarray, int]] = {}
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
                self._resets += 1
                if self._resets >= self._open:
                    self._resets = 0
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
                self._open -= 1
                if self._open == 0:
                    self.ended = True
                    self.on_finished()
                    return
                continue
            start = time.perf_counter()
            for i in range(0, len(item), self.batch):
                self._encode(item[i : i + self.batch], encode)
            self.busy_s += time.perf_counter() - start

    def _encode(self, windows: list[Window], encode: Callable[[np.ndarray], np.ndarray] | None) -> None:
        if encode is None:  # tracking-only runs: every window is answered, so a synchronous tracker never waits
            for window in windows:
                put_drop_oldest(self._answers(window.track_id), TrackDecision(window.track_id))
            return
        data = np.stack([w.data for w in windows]).astype(np.float32, copy=False)  # (B, f, 20, 3)
        embeddings = np.asarray(encode(data), dtype=np.float32)  # (B, 3H)
        self.encoded += len(windows)
        for window in windows:
            self.encoded_by_camera[camera_index(window.track_id, len(self.identities))] += 1
        if self.matcher is not None:
            identities, alerts = self.matcher.decide(windows, embeddings)
        else:
            identities, alerts = [TrackDecision(w.track_id, IdentityDecision(Decision.UNKNOWN)) for w in windows], []
        for window, identity, embedding in zip(windows, identities, embeddings):
            total, count = self._sums.get(window.track_id, (0.0, 0))
            total, count = total + embedding.astype(np.float64), count + 1
            self._sums[window.track_id] = (total, count)
            mean = total / count
            identity = replace(identity, embedding=mean if np.isfinite(mean).all() and mean.any() else None)
            put_drop_oldest(self._answers(window.track_id), identity)
            self.on_match(MatchEvent(timestamp_s=window.t_end_s, track_id=window.track_id,
                                     start_s=window.t_start_s, frames=int(window.data.shape[0]),
                                     identity=identity.identity, camera=self.camera_of(window.track_id)))
        for alert in alerts:
            self.on_alert(alert)

    def _answers(self, track_id: int) -> queue.Queue:
        return self.identities[camera_index(track_id, len(self.identities))]

    def camera_of(self, track_id: int) -> str:
        """The name of the camera whose tracker gave out `track_id`."""
        return self.cameras[camera_index(track_id, len(self.cameras))]

    def state_sizes(self) -> dict[str, int]:
        sizes = {"embedding sums": len(self._sums)}
        matcher = self.matcher
        if matcher is not None:
            sizes.update(matcher.state_sizes())
        return sizes

    def close(self) -> None:
        if self.matcher is not None:
            self.matcher.close()
