"""The plain track state and the Qt models over it, tested through their Python state and Qt's model checker."""
from __future__ import annotations

import numpy as np

from app.events import Decision, FrameResult, IdentityDecision, MatchEvent, TrackView
from app.explain import cut_windows
from ui.models import JourneyTableModel, TrackTableModel
from ui.state import Journeys, TrackBook

IDS = {"Ada": 1, "Ben": 2}  # gallery identity ids


def _view(track_id: int, state: str = "confirmed", name: str | None = None, camera: str = "") -> TrackView:
    joints = np.zeros((20, 3), np.float32)
    joints[:, 2] = 3.0
    joints[:, 0] = np.linspace(-0.2, 0.2, 20) + track_id
    identity = IdentityDecision(Decision.MATCH, IDS[name], name, 0.8, (0.1, 0.2, 0.3)) if name else IdentityDecision()
    return TrackView(track_id, state, joints, None, np.ones(20, np.float32), 0.0, identity=identity, camera=camera)


def _frame(i: int, t: float, *views: TrackView, camera: str = "") -> FrameResult:
    return FrameResult(i, t, None, None, tuple(views), 15.0, 0, camera=camera)


def test_book_adds_updates_ends_and_forgets_tracks():
    book = TrackBook(keep_recent_s=2.0)
    c = book.apply_frame(_frame(0, 0.0, _view(1), _view(2)))
    assert c.added == (1, 2) and book.order == [1, 2]
    c = book.apply_frame(_frame(1, 0.5, _view(1, name="Ada")))
    assert c.added == () and 1 in c.updated and 2 in c.updated  # 2 ended
    assert book.records[1].identity.label == "Ada" and book.records[1].identity.level_distances == (0.1, 0.2, 0.3)
    assert book.records[2].state == "ended" and not book.records[2].present
    assert book.records[1].duration_s == 0.5 and book.records[1].frames == 2
    c = book.apply_frame(_frame(2, 3.0, _view(1, name="Ada")))
    assert c.removed == (2,)  # ended more than keep_recent_s ago
    book.remove(2)
    assert book.order == [1]
    assert book.apply_match(MatchEvent(3.0, 1, 2.6, 6, IdentityDecision(Decision.MATCH, 1, "Ada", 0.8))) == 1
    assert book.apply_match(MatchEvent(3.0, 9, 2.6, 6, IdentityDecision(Decision.UNKNOWN))) is None
    assert len(book.records[1].windows) == 1
    book.apply_frame(_frame(0, 0.0, _view(5)))  # a seek back: tracks start afresh
    assert book.order == [5]


def test_a_window_shows_its_decision_and_distances_before_the_next_frame_comes():
    """Windows come from match events, the identity from frames: a row must not list a window while showing no
    distances (seen when the window paused right after a match)."""
    book = TrackBook()
    book.apply_frame(_frame(0, 0.0, _view(1)))
    unknown = IdentityDecision(Decision.UNKNOWN, level_distances=(12.0, 11.0, 20.0))
    book.apply_match(MatchEvent(0.5, 1, 0.1, 6, unknown))
    assert len(book.records[1].windows) == 1 and book.records[1].identity.level_distances == (12.0, 11.0, 20.0)
    book.apply_match(MatchEvent(0.6, 1, 0.2, 6, IdentityDecision(Decision.UNKNOWN)))  # none measured this time
    assert book.records[1].identity.level_distances == (12.0, 11.0, 20.0)  # the last ones stay shown


def test_frames_of_two_cameras_interleave_without_ending_or_clearing_each_others_tracks():
    book = TrackBook()
    book.apply_frame(_frame(0, 1.0, _view(1, camera="door"), camera="door"))
    book.apply_frame(_frame(0, 0.9, _view(2, camera="hall"), camera="hall"))  # earlier, but another camera's time
    book.apply_frame(_frame(1, 1.1, _view(1, camera="door"), camera="door"))
    assert book.order == [1, 2] and book.records[2].present and book.records[2].camera == "hall"
    book.apply_frame(_frame(1, 1.0, camera="hall"))
    assert not book.records[2].present and book.records[1].present
    book.apply_frame(_frame(0, 0.0, _view(3, camera="door"), camera="door"))  # door went back: a seek
    assert book.order == [3]


def test_journeys_list_each_identity_by_camera_and_move_a_renamed_track(qtmodeltester):
    book, model = TrackBook(), JourneyTableModel(Journeys())
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    for i, t in enumerate((0.0, 1.0, 2.0)):
        book.apply_frame(_frame(i, t, _view(1, name="Ada", camera="door"), camera="door"))
        model.note([book.records[1]])
    assert len(resets) == 1 and model.rowCount() == 1  # rows changed once; later frames only update
    book.apply_frame(_frame(0, 4.0, _view(2, name="Ada", camera="hall"), camera="hall"))
    book.apply_frame(_frame(1, 5.5, _view(2, name="Ada", camera="hall"), _view(4, name="Ben", camera="hall"),
                            camera="hall"))
    model.note([book.records[2], book.records[4]])
    qtmodeltester.check(model)
    assert [[model.index(r, c).data() for c in range(3)] for r in range(2)] == [
        ["Ada", "door, hall", "door 0.0-2.0 s → hall 4.0-5.5 s"], ["Ben", "hall", "hall 5.5-5.5 s"]]
    ben = IdentityDecision(Decision.MATCH, 2, "Ben", 0.8)
    book.records[2].identity = ben  # the hall track was Ben after all: it leaves Ada's journey
    model.note([book.records[2]])
    assert [[model.index(r, c).data() for c in range(3)] for r in range(2)] == [
        ["Ada", "door", "door 0.0-2.0 s"], ["Ben", "hall", "hall 4.0-5.5 s → hall 5.5-5.5 s"]]


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
    panel = TracksPanel(model, JourneyTableModel(Journeys()))
    qtbot.addWidget(panel)
    model.apply_frame(_frame(0, 0.0, _view(1), _view(2), _view(3)))
    model.apply_frame(_frame(1, 0.5, _view(3), _view(4)))  # 1 and 2 ended
    listed = [panel.rows.data(panel.rows.index(r, 0), Qt.ItemDataRole.UserRole) for r in range(panel.rows.rowCount())]
    assert listed[:2] == [3, 4] and set(listed[2:]) == {1, 2}
    panel.select_track(4)
    assert panel.selected_track() == 4
