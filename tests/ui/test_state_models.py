"""The plain track state and the Qt models over it, tested through their Python state and Qt's model checker."""
from __future__ import annotations

import numpy as np

from app.events import FrameResult, MatchEvent, TrackView
from app.explain import cut_windows
from ui.models import TrackTableModel
from ui.state import TrackBook


def _view(track_id: int, state: str = "confirmed", name: str | None = None) -> TrackView:
    joints = np.zeros((20, 3), np.float32)
    joints[:, 2] = 3.0
    joints[:, 0] = np.linspace(-0.2, 0.2, 20) + track_id
    return TrackView(track_id, state, joints, None, np.ones(20, np.float32), 0.0, identity_id=1 if name else None,
                     identity_name=name, match_confidence=0.8 if name else 0.0,
                     decision="match" if name else "pending", level_distances=(0.1, 0.2, 0.3) if name else None)


def _frame(i: int, t: float, *views: TrackView) -> FrameResult:
    return FrameResult(i, t, None, None, tuple(views), 15.0, 0)


def test_book_adds_updates_ends_and_forgets_tracks():
    book = TrackBook(keep_recent_s=2.0)
    c = book.apply_frame(_frame(0, 0.0, _view(1), _view(2)))
    assert c.added == (1, 2) and book.order == [1, 2]
    c = book.apply_frame(_frame(1, 0.5, _view(1, name="Ada")))
    assert c.added == () and 1 in c.updated and 2 in c.updated  # 2 ended
    assert book.records[1].label == "Ada" and book.records[1].level_distances == (0.1, 0.2, 0.3)
    assert book.records[2].state == "ended" and not book.records[2].present
    assert book.records[1].duration_s == 0.5 and book.records[1].frames == 2
    c = book.apply_frame(_frame(2, 3.0, _view(1, name="Ada")))
    assert c.removed == (2,)  # ended more than keep_recent_s ago
    book.remove(2)
    assert book.order == [1]
    assert book.apply_match(MatchEvent(3.0, 1, 2.6, 6, "match", 1, "Ada", 0.8)) == 1
    assert book.apply_match(MatchEvent(3.0, 9, 2.6, 6, "unknown")) is None
    assert len(book.records[1].windows) == 1
    book.apply_frame(_frame(0, 0.0, _view(5)))  # a seek back: tracks start afresh
    assert book.order == [5]


def test_track_model_rows_follow_the_book(qtmodeltester):
    model = TrackTableModel(TrackBook(keep_recent_s=1.0))
    inserted = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    model.apply_frame(_frame(0, 0.0, _view(1), _view(2, name="Ben")))
    qtmodeltester.check(model)
    assert inserted == [(0, 1)] and model.rowCount() == 2
    assert [model.index(r, 3).data() for r in range(2)] == ["…", "Ben"]
    assert model.index(1, 5).data() == "0.10  0.20  0.30"
    removed = []
    model.rowsRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    model.apply_frame(_frame(1, 0.2, _view(2, name="Ben")))
    model.apply_frame(_frame(2, 2.0, _view(2, name="Ben"), _view(3)))
    assert removed == [(0, 0)] and [model.index(r, 0).data() for r in range(2)] == ["#2", "#3"]
    qtmodeltester.check(model)


def test_cut_windows_takes_the_newest_full_windows():
    history = [(0.1 * i, np.full((20, 3), i, np.float32)) for i in range(14)]
    windows, times = cut_windows(history, 6)
    assert windows.shape == (2, 6, 20, 3) and times.shape == (2, 6)
    assert np.allclose(times[-1], [0.1 * i for i in range(8, 14)])
    assert np.allclose(windows[:, :, 0], 0.0)  # root-centred per frame
    empty, _ = cut_windows(history[:5], 6)
    assert empty.shape == (0, 6, 20, 3)


def test_tracks_panel_lists_tracks_in_view_above_ended_ones(qtbot):
    from PySide6.QtCore import Qt

    from ui.tracks_panel import TracksPanel

    model = TrackTableModel(TrackBook(keep_recent_s=60.0))
    panel = TracksPanel(model)
    qtbot.addWidget(panel)
    model.apply_frame(_frame(0, 0.0, _view(1), _view(2), _view(3)))
    model.apply_frame(_frame(1, 0.5, _view(3), _view(4)))  # 1 and 2 ended
    listed = [panel.rows.data(panel.rows.index(r, 0), Qt.ItemDataRole.UserRole) for r in range(panel.rows.rowCount())]
    assert listed[:2] == [3, 4] and set(listed[2:]) == {1, 2}
    panel.select_track(4)
    assert panel.selected_track() == 4
