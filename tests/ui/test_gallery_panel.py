"""Gallery panel on a real temporary SQLite gallery: rename + undo, watchlist, merge + undo, delete, enrol a track."""
from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.conftest import screenshot, wait_for_named_track


def _names(window) -> list[str]:
    return [window.gallery.model.index(r, 0).data() for r in range(window.gallery.model.rowCount())]


def _stored(window) -> set[str]:
    return {i.name for i in window.backend.gallery.list_identities()}


def _click(qtbot, window, key: str) -> None:
    qtbot.mouseClick(window.gallery.buttons[key], Qt.MouseButton.LeftButton)


def _settle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.storage_tasks.pending == 0, timeout=30_000)


def test_rename_undo_watchlist_merge_delete(qtbot, window, monkeypatch):
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.gallery
    _settle(qtbot, window)
    assert _names(window) == ["Ada", "Ben"]

    window.gallery.select_names("Ada")
    qtbot.keyClicks(window.gallery.name, "Alice")
    _click(qtbot, window, "rename")
    _settle(qtbot, window)
    assert _stored(window) == {"Alice", "Ben"} and "Alice" in _names(window)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, window)
    assert _stored(window) == {"Ada", "Ben"}

    window.gallery.select_names("Ben")
    _click(qtbot, window, "watchlist")
    _settle(qtbot, window)
    assert {i.name: i.watchlist for i in window.backend.gallery.list_identities()} == {"Ada": False, "Ben": True}
    assert window.gallery.model.index(_names(window).index("Ben"), 1).data() == "★"

    before = {i.name: i.embeddings for i in window.backend.gallery.list_identities()}
    assert min(before.values()) >= 1
    window.gallery.select_names("Ada", "Ben")
    _click(qtbot, window, "merge")
    _settle(qtbot, window)
    merged = window.backend.gallery.list_identities()
    assert [i.name for i in merged] == ["Ada"] and merged[0].embeddings == before["Ada"] + before["Ben"]
    screenshot(window, "gallery_merged")
    _click(qtbot, window, "undo")
    _settle(qtbot, window)
    assert {i.name: i.embeddings for i in window.backend.gallery.list_identities()} == before

    monkeypatch.setattr(window.gallery, "confirm", lambda parent, text: "Ben" in text)
    window.gallery.select_names("Ben")
    _click(qtbot, window, "delete")
    _settle(qtbot, window)
    assert _stored(window) == {"Ada"} and _names(window) == ["Ada"]
    assert window.gallery.undo_stack == []  # not undoable, and earlier steps may name the deleted person
    assert not window.gallery.buttons["undo"].isEnabled()
    screenshot(window, "gallery_after_delete")


def test_enrol_selected_track(qtbot, window):
    track_id = wait_for_named_track(qtbot, window)
    qtbot.waitUntil(lambda: len(window.book.records[track_id].joints) >= window.backend.frames, timeout=30_000)
    window.tracks.select_track(track_id)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(window.gallery.name, "Visitor")
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, window)
    stored = {i.name: i.embeddings for i in window.backend.gallery.list_identities()}
    assert set(stored) == {"Ada", "Ben", "Visitor"} and stored["Visitor"] >= 1
    assert "Visitor" in _names(window)
    window.gallery.select_names("Visitor")
    assert window.gallery.detail.text().startswith("<b>Visitor</b>")
    screenshot(window, "gallery_enrolled")


def test_enrol_without_a_track_says_what_to_do(qtbot, window):
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    messages = []
    window.gallery.status.connect(messages.append)
    qtbot.keyClicks(window.gallery.name, "Nobody")
    _click(qtbot, window, "enrol_track")
    assert messages and "select a track" in messages[-1]
    assert _stored(window) == {"Ada", "Ben"}


def test_enrol_an_unknown_candidate(qtbot, window, monkeypatch, recorded_scene):
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, window)
    monkeypatch.setattr(window.gallery, "confirm", lambda parent, text: True)
    window.gallery.select_names("Ben")
    _click(qtbot, window, "delete")
    _settle(qtbot, window)
    assert _stored(window) == {"Ada"}
    window.open_source(str(recorded_scene[0]))  # Ben's windows are now unknown and stored as such

    def candidates() -> int:
        qtbot.keyClick(window, Qt.Key.Key_F5)
        _settle(qtbot, window)
        return window.gallery.unknowns.count()
    qtbot.waitUntil(lambda: candidates() > 0, timeout=60_000)
    assert window.gallery.unknowns.item(0).text().startswith("unknown #1:")
    window.gallery.unknowns.setCurrentRow(0)
    qtbot.keyClicks(window.gallery.name, "Ben again")
    _click(qtbot, window, "enrol_unknown")
    _settle(qtbot, window)
    stored = {i.name: i.embeddings for i in window.backend.gallery.list_identities()}
    assert set(stored) == {"Ada", "Ben again"} and stored["Ben again"] >= 2
    screenshot(window, "gallery_unknown_enrolled")


def test_locked_database_is_reported_and_nothing_is_lost(qtbot, window, config):
    import sqlite3

    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, window)
    other = sqlite3.connect(config.storage.url, timeout=0.1, isolation_level=None)  # another process's writer
    other.execute("BEGIN EXCLUSIVE")
    try:
        window.gallery.select_names("Ada")
        qtbot.keyClicks(window.gallery.name, "Alice")
        _click(qtbot, window, "rename")
        qtbot.waitUntil(lambda: "locked" in (window.errors.last_message or ""), timeout=60_000)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "rename to Alice" in window.errors.last_message
    screenshot(window, "gallery_locked")
    _settle(qtbot, window)
    assert _stored(window) == {"Ada", "Ben"}  # nothing changed, nothing lost
    _click(qtbot, window, "rename")  # the window stayed usable: the same action now goes through
    _settle(qtbot, window)
    assert _stored(window) == {"Alice", "Ben"}


def test_split_chosen_windows_into_a_new_identity_and_undo(qtbot, window):
    qtbot.waitUntil(lambda: window.backend is not None, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    _settle(qtbot, window)
    window.gallery.select_names("Ada")
    _settle(qtbot, window)
    windows = window.gallery.windows
    total = windows.count()
    assert total >= 2
    for row in range(total // 2):
        windows.item(row).setSelected(True)
    qtbot.keyClicks(window.gallery.name, "Ada twin")
    _click(qtbot, window, "split")
    _settle(qtbot, window)
    stored = {i.name: i.embeddings for i in window.backend.gallery.list_identities()}
    assert stored == {"Ada": total - total // 2, "Ada twin": total // 2, "Ben": stored["Ben"]}
    _click(qtbot, window, "undo")
    _settle(qtbot, window)
    stored = {i.name: i.embeddings for i in window.backend.gallery.list_identities()}
    assert set(stored) == {"Ada", "Ben"} and stored["Ada"] == total
