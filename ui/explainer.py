"""Explanations of the selected track, at most one a second, on their own task thread (never the GUI's)."""
from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QObject

from app.desktop import Backend
from ui.state import TrackBook
from ui.tasks import TaskRunner
from ui.tracks_panel import TracksPanel

EXPLAIN_EVERY_S = 1.0


class Explainer(QObject):
    """Asks the backend why the selected track matches whom, and shows it in the tracks panel.

    A new explanation starts only when the previous one is done and a second has passed, so a busy replay
    never queues work behind the screen.
    """

    def __init__(self, tracks: TracksPanel, book: TrackBook, top_k: Callable[[], int],
                 on_error: Callable[[str, BaseException], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tracks, self.book, self.top_k = tracks, book, top_k
        self.backend: Backend | None = None
        self.tasks = TaskRunner(on_error, self)
        self._last = 0.0

    def now(self) -> None:
        """Explain the selected track at the next chance (a new selection)."""
        self._last = 0.0
        self.maybe()

    def maybe(self) -> None:
        track_id = self.tracks.selected_track()
        now = time.monotonic()
        if (track_id is None or self.backend is None or self.tasks.pending
                or now - self._last < EXPLAIN_EVERY_S or track_id not in self.book.records):
            return
        self._last = now
        backend, history, k = self.backend, list(self.book.records[track_id].joints), self.top_k()
        self.tasks.submit(lambda: backend.explain(track_id, history, k), self.tracks.show_explanation,
                          f"explaining track #{track_id}")

    def shutdown(self) -> None:
        self.tasks.shutdown()
