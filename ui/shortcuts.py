"""Keyboard shortcuts of the main window: one table, installed as window-wide actions, and its help text (F1)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from ui.main_window import MainWindow

SHORTCUTS_HELP = """Space\tplay / pause
Right or .\tstep one frame
Shift+Left / Shift+Right\tback / forward 5 s
+ / -\tfaster / slower replay
D\tcolour / depth image
Ctrl+O\topen the chosen source
Ctrl+R\tstart / stop recording
Ctrl+E\tenrol the selected track (name in the Gallery tab)
Ctrl+N\tthe selected track is not this person
Ctrl+Z\tundo the last gallery change
F5\trefresh the gallery
Ctrl+1 ... Ctrl+4\tTracks, Gallery, Alerts, Training
Ctrl+,\tsettings
Ctrl+Q\tquit"""


def install_shortcuts(w: MainWindow) -> dict[str, QAction]:
    """Add one window-wide action per shortcut; returns them by key sequence."""
    table: list[tuple[str, Callable[[], object]]] = [
        ("Space", w.toggle_play), ("Right", w.controller.step), (".", w.controller.step),
        ("Shift+Left", lambda: w.jump(-5.0)), ("Shift+Right", lambda: w.jump(5.0)),
        ("D", w.image_toggle.toggle), ("Ctrl+R", w.recorder.button.click),
        ("Ctrl+Z", w.gallery.undo), ("Ctrl+E", w.gallery.enrol_track), ("Ctrl+N", w.gallery.not_this),
        ("F5", w.gallery.refresh), ("+", lambda: w.speed_step(1)), ("-", lambda: w.speed_step(-1)),
        ("F1", w.show_shortcuts), ("Ctrl+Q", w.close)]
    table += [(f"Ctrl+{i + 1}", lambda i=i: w.tabs.setCurrentIndex(i)) for i in range(4)]
    actions = {}
    for key, slot in table:
        action = QAction(w, shortcut=QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False, slot=slot: slot())  # `triggered` passes `checked`
        w.addAction(action)
        actions[key] = action
    return actions
