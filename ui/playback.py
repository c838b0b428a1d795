"""Playback of the open source: play/pause, step, seek (reopening a recording that ended), looping, the end.

Its own class so the window only wires signals: the replay bar's requests come here, and this decides what the
controller is asked. A replay that reaches its end holds there paused and sends no event, so a timer looks.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer

from app.pipeline.runner import PipelineSummary
from ui.controller import PipelineController
from ui.state import TrackBook
from ui.timeline import ReplayBar

END_POLL_MS = 250


class Playback(QObject):
    """Steers the controller from the replay bar.

    Args:
        reopen: opens the current source again at a media time (a recording whose pipeline already ended).
        on_end: called at the end of a recording that does not loop, with the frames played when known.
    """

    def __init__(self, controller: PipelineController, bar: ReplayBar, book: TrackBook,
                 reopen: Callable[[float, bool], None], on_end: Callable[[int | None], None],
                 on_loop: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller, self.bar, self.book = controller, bar, book
        self._reopen, self._on_end, self._on_loop = reopen, on_end, on_loop
        self._at_end = False
        self._timer = QTimer(self, interval=END_POLL_MS)
        self._timer.timeout.connect(self._check_end)
        self._timer.start()
        bar.play_toggled.connect(self.toggle_play)
        bar.step_requested.connect(lambda: controller.step())
        bar.speed_changed.connect(controller.set_speed)
        bar.timeline.seek_requested.connect(self.seek)

    def toggle_play(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()
        self.bar.set_paused(self.controller.paused)

    def seek(self, t_s: float, paused: bool | None = None) -> None:
        """Go to media time `t_s` of the recording; one that already ended is opened again there."""
        if not self.controller.replayed:
            return
        paused = (self.controller.paused and not self.controller.at_end) if paused is None else paused
        if self.controller.finished:
            self._reopen(t_s, paused)
            self.bar.set_paused(paused)
            return
        self.controller.seek(t_s)
        if paused:
            self.controller.pause()
            self.controller.step(1)
        else:
            self.controller.resume()
        self.bar.set_paused(paused)

    def jump(self, delta_s: float) -> None:
        if self.book.last_s is not None:
            self.seek(max(self.book.last_s + delta_s, 0.0))

    def speed_step(self, direction: int) -> None:
        combo = self.bar.speed
        combo.setCurrentIndex(min(max(combo.currentIndex() + direction, 0), combo.count() - 1))

    def finished(self, summary: PipelineSummary) -> None:
        """The pipeline's end-of-stream event: a live source that ended, or a replay that does not hold."""
        if summary.completed:
            self._reached_end(summary.frames)

    def _check_end(self) -> None:
        at_end = self.controller.at_end
        if at_end and not self._at_end:
            self._reached_end(None)
        self._at_end = at_end

    def _reached_end(self, frames: int | None) -> None:
        if self.bar.loop.isChecked() and self.controller.replayed:
            self._on_loop()
            self.seek(0.0, paused=False)
            return
        self._on_end(frames)
        self.bar.set_paused(True)
