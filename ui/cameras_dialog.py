"""Several cameras from the Source box: one `[NAME=]SPEC` per line, as `--source` takes them on the command line.

The window then opens them in one grid (app.desktop builds one pipeline over them); names default to cam1, cam2,
... by position, and a camera that cannot be opened is named in the status bar and left out, as from the CLI.
"""
from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

EXAMPLE = "door=realsense:123456789012\nhall=/data/hall.db3"


def camera_lines(text: str) -> list[str]:
    """The camera specs of the dialog's text: one a line, blank lines and `#` comments left out."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


class CamerasDialog(QDialog):
    """Asks for several cameras; `specs` holds them once accepted. OK needs at least two."""

    def __init__(self, previous: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open several cameras")
        self.specs: list[str] = []
        self.text = QPlainTextEdit("\n".join(previous))
        self.text.setPlaceholderText(EXAMPLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.text.textChanged.connect(self._check)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("One camera a line, NAME=SPEC (a RealSense serial as realsense:SERIAL, a recording, "
                                "a video, a session, synthetic); unnamed ones are cam1, cam2, …"))
        layout.addWidget(self.text)
        layout.addWidget(self.buttons)
        self._check()

    def _check(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(len(camera_lines(self.text.toPlainText()))
                                                                          >= 2)

    def accept(self) -> None:
        self.specs = camera_lines(self.text.toPlainText())
        super().accept()
