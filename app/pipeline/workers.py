"""Worker threads and the bounded queues between them.

A worker owns its state (its stage object, its counters) and talks to the others only through bounded queues, so
no lock guards a stage. Control messages travel in-band (`Marker`s), so a seek resets every stage in stream order.
A worker ends in one of three ways: the stream ended (it saw `END` and passed it on), it was asked to stop (its
event is set), or it failed. Failure includes returning without either of the first two: the runner reports it.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

logger = logging.getLogger(__name__)

POLL_S = 0.05  # how often a blocked put/get looks at the stop event: the worst-case stop latency per queue


@dataclass(frozen=True)
class Marker:
    """An in-band control message: `END` of the stream, or `RESET` (after a seek) of every stage's state."""

    kind: str


END = Marker("end")
RESET = Marker("reset")


class Stopped(Exception):
    """Raised inside a worker when its stop event is set while it waits on a queue."""


def put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    """Blocking put that gives up when `stop` is set (replay back-pressure: never drop, never hang on stop).

    Raises:
        Stopped: the worker was asked to stop while the queue was full.
    """
    while True:
        try:
            q.put(item, timeout=POLL_S)
            return
        except queue.Full:
            if stop.is_set():
                raise Stopped from None


def put_drop_oldest(q: queue.Queue, item: Any) -> int:
    """Put without blocking; when full, drop the oldest waiting items (never a `Marker`) to make room.

    Returns:
        How many items were dropped.
    """
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            with q.mutex:  # take the oldest non-marker out under the queue's own lock
                oldest = next((x for x in q.queue if not isinstance(x, Marker)), None)
                if oldest is None:
                    break
                q.queue.remove(oldest)
                q.not_full.notify()
            dropped += 1
    # The queue holds only markers: wait like a replay would rather than lose a control message.
    q.put(item)
    return dropped


def get(q: queue.Queue, stop: threading.Event) -> Any:
    """Blocking get that gives up when `stop` is set.

    Raises:
        Stopped: the worker was asked to stop while the queue was empty.
    """
    while True:
        try:
            return q.get(timeout=POLL_S)
        except queue.Empty:
            if stop.is_set():
                raise Stopped from None


def drain(q: queue.Queue) -> int:
    """Empty a queue after its producer and consumer stopped; returns how many items were discarded."""
    count = 0
    while True:
        try:
            q.get_nowait()
            count += 1
        except queue.Empty:
            return count


class RateMeter:
    """Events per second over the last `window_s` seconds (the FPS on screen)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()
        span = now - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


ErrorHandler = Callable[[str, BaseException], None]


class Worker(ABC):
    """One pipeline stage on its own thread.

    Subclasses implement `run()` (loop until `END` or stop; raise `Stopped` out of a blocked queue call) and may
    implement `close()` to release what they own; `close()` runs on the worker's thread whatever happened.
    """

    def __init__(self, name: str, on_error: ErrorHandler) -> None:
        self.name = name
        self.stop_event = threading.Event()
        self.busy_s = 0.0          # time spent working (not waiting on queues), for the per-stage figures
        self.ended = False          # saw END and passed it on
        self._on_error = on_error
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"skelwatch-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread; returns False when it is still alive after `timeout_s`."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _main(self) -> None:
        try:
            self.run()
            if not (self.ended or self.stop_event.is_set()):
                raise RuntimeError(f"pipeline worker {self.name!r} exited without being asked to")
        except Stopped:
            pass
        except Exception as exc:  # any failure of a stage must reach the listener, not die with the thread
            logger.exception("pipeline worker %s failed", self.name)
            self._on_error(self.name, exc)
        finally:
            try:
                self.close()
            except Exception as exc:
                logger.exception("pipeline worker %s failed to release its resources", self.name)
                self._on_error(self.name, exc)

    @abstractmethod
    def run(self) -> None:
        """The worker's loop."""

    def close(self) -> None:
        """Release what the worker owns (called on its own thread, once)."""
