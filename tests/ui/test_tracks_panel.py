"""Tracks panel: selecting a track by click shows its gallery neighbours and the evidence plots."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.conftest import screenshot, wait_for_named_track


def test_selecting_a_track_shows_its_neighbours_and_frame_importance(qtbot, window):
    track_id = wait_for_named_track(qtbot, window)
    name = window.book.records[track_id].identity_name
    qtbot.waitUntil(lambda: len(window.book.records[track_id].joints) >= 2 * window.backend.frames, timeout=30_000)
    table = window.tracks.table
    rect = table.visualRect(window.tracks.index_of(track_id))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.tracks.selected_track() == track_id
    assert window.view.selected_track == track_id
    qtbot.waitUntil(lambda: window.tracks.explanation is not None
                    and window.tracks.explanation.track_id == track_id, timeout=30_000)
    exp = window.tracks.explanation
    neighbours = window.tracks.neighbours
    assert neighbours.rowCount() == len(exp.neighbours) == 2  # both enrolled walkers, nearest first
    distances = [float(neighbours.item(r, 1).text()) for r in range(neighbours.rowCount())]
    assert distances == sorted(distances)
    assert {neighbours.item(r, 0).text().split(". ", 1)[1] for r in range(2)} == {"Ada", "Ben"}
    assert len(exp.frame_importance) == window.backend.frames
    assert abs(float(exp.frame_importance.sum()) - 1.0) < 1e-6 or float(exp.frame_importance.sum()) == 0.0
    assert f"Track #{track_id}" in window.tracks.title.text()
    assert name  # the track the panel explains is a named one
    screenshot(window, "tracks_panel_explained")
