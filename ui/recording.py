"""The record button with its timer and size: start / stop recording the current source into a session folder."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


def folder_size(folder: Path) -> int:
    """Bytes in the files directly inside `folder` (a session folder is flat)."""
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


def fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class RecordingWidget(QWidget):
    """Record / Stop with "REC mm:ss  size" while recording. The window connects the two request signals."""

    start_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("● Record")
        self.button.setObjectName("recordButton")
        self.button.setToolTip("Record the current source into a new session folder (Ctrl+R)")
        self.label = QLabel("")
        self.label.setObjectName("recLabel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.label)
        self.folder: Path | None = None
        self.last_folder: Path | None = None
        self._started = 0.0
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self.tick)
        self.button.clicked.connect(self._clicked)
        self.setEnabled(False)

    def _clicked(self) -> None:
        if self.folder is None:
            self.button.setEnabled(False)  # until the controller says the recording started
            self.start_requested.emit()
        else:
            self.stop_requested.emit()

    def set_recording(self, folder: Path | None) -> None:
        self.button.setEnabled(True)
        if folder is not None:
            self.folder, self._started = folder, time.monotonic()
            self.button.setText("■ Stop")
            self._timer.start()
            self.tick()
        else:
            self.last_folder, self.folder = self.folder, None
            self._timer.stop()
            self.button.setText("● Record")
            if self.last_folder is not None:
                self.label.setText(f"saved {self.last_folder.name} ({fmt_bytes(folder_size(self.last_folder))})")

    def tick(self) -> None:
        if self.folder is None:
            return
        elapsed = int(time.monotonic() - self._started)
        self.label.setText(f"REC {elapsed // 60:02d}:{elapsed % 60:02d}  {fmt_bytes(folder_size(self.folder))}")
