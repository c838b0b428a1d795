"""The one door between the pipeline's worker threads and the Qt main thread.

The pipeline calls its listeners on worker threads; `PipelineBridge` turns each call into a Qt signal emitted from
that thread, so Qt queues it to the main thread (the bridge lives there). Frames are coalesced: the bridge keeps
only the newest `FrameResult` of each camera and signals "a frame is ready" once until the GUI takes them, so a
slow repaint never builds a backlog (the GUI shows each camera's newest frame; stale ones are dropped and
counted), and one busy camera never starves another's view. Matches, alerts, errors and
the end of the stream are never dropped.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from app.events import AlertEvent, FrameResult, MatchEvent
from app.pipeline.runner import Listener, PipelineSummary


class PipelineBridge(QObject):
    """Qt signals for the pipeline's events. Create it on the GUI thread; hand `listener` to the pipeline."""

    frame_ready = Signal()
    match = Signal(object)      # MatchEvent
    alert = Signal(object)      # AlertEvent
    failed = Signal(str, object)  # stage, exception
    finished = Signal(object)   # PipelineSummary

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: dict[str, FrameResult] = {}  # camera -> its newest frame
        self._pending = False
        self.stale_frames = 0  # frames replaced by a newer one before the GUI took them
        self.listener = _BridgeListener(self)

    def take_frames(self) -> list[FrameResult]:
        """Each camera's newest frame that came since the last call (GUI thread), in camera order of arrival."""
        with self._lock:
            frames, self._latest, self._pending = list(self._latest.values()), {}, False
        return frames

    def _offer(self, result: FrameResult) -> None:
        with self._lock:
            if result.camera in self._latest:
                self.stale_frames += 1
            self._latest[result.camera] = result
            signal = not self._pending
            self._pending = True
        if signal:
            self.frame_ready.emit()


class _BridgeListener(Listener):
    """Runs on worker threads: only hands values over, never touches a widget."""

    def __init__(self, bridge: PipelineBridge) -> None:
        self._bridge = bridge

    def on_frame(self, result: FrameResult) -> None:
        self._bridge._offer(result)

    def on_match(self, event: MatchEvent) -> None:
        self._bridge.match.emit(event)

    def on_alert(self, event: AlertEvent) -> None:
        self._bridge.alert.emit(event)

    def on_error(self, stage: str, error: BaseException) -> None:
        self._bridge.failed.emit(stage, error)

    def on_finished(self, summary: PipelineSummary) -> None:
        self._bridge.finished.emit(summary)
