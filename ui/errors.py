"""The one place where failures reach the operator: the status line, the log and, for what needs action, a dialog.

Every worker error (pipeline stage, background task, training process) is handed to `ErrorReporter.report`.
Known problems (`SkelwatchError` and its subclasses) carry a message naming the thing and the fix, which is shown
as is; anything else is shown with its type and a pointer to the log. Dialogs are non-modal, so the window stays
usable and a test never hangs on one.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from core.errors import SkelwatchError

logger = logging.getLogger(__name__)


def describe(what: str, error: BaseException) -> str:
    """One readable sentence: what was being done and what went wrong (and, for known errors, the fix)."""
    if isinstance(error, SkelwatchError):
        return f"{what}: {error}" if what else str(error)
    detail = f"{type(error).__name__}: {error}"
    return f"{what} failed: {detail} (the log has the details)" if what else f"{detail} (the log has the details)"


class ErrorReporter(QObject):
    """Shows errors in the status bar and, when `dialog=True`, in a non-modal message box."""

    reported = Signal(str)  # the text shown, for the log panel and tests

    def __init__(self, parent_widget: QWidget, status: QStatusBar) -> None:
        super().__init__(parent_widget)
        self._parent = parent_widget
        self._status = status
        self.last_message: str | None = None
        self.dialog: QMessageBox | None = None

    def report(self, what: str, error: BaseException, dialog: bool = True) -> None:
        text = describe(what, error)
        logger.warning("%s", text)
        self.show_text(text, dialog)

    def show_text(self, text: str, dialog: bool = True) -> None:
        self.last_message = text
        # The status bar shows what fits (elided, whole text in its tooltip); the dialog shows all of it.
        room = max(200, self._status.width() - 300)  # the permanent labels on the right keep their place
        self._status.showMessage(self._status.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room),
                                 15000)
        self._status.setToolTip(text)
        self.reported.emit(text)
        if dialog:
            if self.dialog is not None:
                self.dialog.close()
            self.dialog = QMessageBox(QMessageBox.Icon.Warning, "skelwatch", text, QMessageBox.StandardButton.Ok,
                                      self._parent)
            self.dialog.setModal(False)
            self.dialog.show()
