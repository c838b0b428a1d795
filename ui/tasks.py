"""Run blocking work (opening a file, a database transaction, stopping the pipeline) off the GUI thread.

`TaskRunner.submit(fn, on_done, what)` runs `fn()` on a worker thread; its result comes back to `on_done` on the
GUI thread through a queued signal, and any exception goes to the window's one `ErrorReporter` (with `what` saying
what was being done), never to a silent log line. Tasks run one at a time in submission order by default
("serial"), so two gallery edits can never interleave.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.errors import SkelwatchError

logger = logging.getLogger(__name__)


class TaskRunner(QObject):
    """One worker thread with a FIFO of tasks; results and errors are delivered on the GUI thread."""

    _done = Signal(object, object)       # callback, result
    _failed = Signal(str, object)        # what, exception
    busy_changed = Signal(bool)

    def __init__(self, on_error: Callable[[str, BaseException], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._on_error = on_error
        self._done.connect(self._deliver)
        self._failed.connect(lambda what, exc: self._on_error(what, exc))
        self._thread = threading.Thread(target=self._loop, name="skelwatch-gui-tasks", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Tasks submitted and not yet delivered."""
        return self._pending

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None, what: str = "") -> None:
        """Queue `fn`; `on_done(result)` runs on the GUI thread; an exception goes to the error reporter."""
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        self._queue.put((fn, on_done, what))

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Finish the queued tasks and end the thread (results still queued are not delivered)."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, on_done, what = item
            try:
                result = fn()
            except Exception as exc:  # every failure of a task reaches the user through the reporter
                if isinstance(exc.__cause__ or exc, SkelwatchError):  # explained for the user: no traceback
                    logger.warning("%s: %s", what, exc)
                else:
                    logger.exception("background task failed: %s", what)
                self._failed.emit(what, exc)
                self._done.emit(None, None)
                continue
            self._done.emit(on_done, result)

    def _deliver(self, callback: Callable[[Any], None] | None, result: Any) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.busy_changed.emit(False)
        if callback is not None:
            try:
                callback(result)
            except Exception as exc:  # a failing GUI update must not kill the event loop
                logger.exception("showing the result of a background task failed")
                self._on_error("showing a result", exc)
