"""Settings: the GUI section and the few pipeline and matching keys an operator changes, saved to the config file.

Values go through the pydantic sections (validate_assignment), so an out-of-range value is refused with the
section's own message; saving writes only what differs from the defaults (`app.config.save_user_config`).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget)

from app.config import SkelwatchConfig, default_config_path, save_user_config


class SettingsDialog(QDialog):
    """Edits `config` in place on Save and writes the file; `saved(path)` after a successful write."""

    saved = Signal(object)

    def __init__(self, config: SkelwatchConfig, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("skelwatch settings")
        self.config = config
        self.path = path or default_config_path()
        u, g = config.ui, config.gallery
        self.image = QComboBox()
        self.image.addItems(["color", "depth"])
        self.image.setCurrentText(u.image)
        self.show_lost = QCheckBox("Draw lost (coasting) tracks")
        self.show_lost.setChecked(u.show_lost)
        self.loop = QCheckBox("Loop recordings")
        self.loop.setChecked(u.loop_replay)
        self.privacy = QCheckBox("Privacy: skeletons only (no colour image recorded, shown or in snapshots)")
        self.privacy.setChecked(config.storage.privacy_skeleton_only)
        self.depth_max = QDoubleSpinBox(minimum=0.5, maximum=50.0, singleStep=0.5, value=u.depth_max_m, suffix=" m")
        self.top_k = QSpinBox(minimum=1, maximum=50, value=u.top_k)
        self.recent = QDoubleSpinBox(minimum=0.0, maximum=3600.0, value=u.recent_tracks_s, suffix=" s")
        self.source = QLineEdit(config.pipeline.source)
        self.sessions = QLineEdit(u.sessions_dir)
        self.sessions.setPlaceholderText("<home>/sessions")
        # 0 shows as "model's": no fixed distance, the one calibrated for the encoder in use (model.json).
        self.accept_distance = QDoubleSpinBox(minimum=0.0, maximum=100.0, singleStep=0.05, decimals=3,
                                              value=g.accept_distance or 0.0)
        self.accept_distance.setSpecialValueText("model's calibrated distance")
        self.message = QLabel(f"Saved to {self.path}")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Image", self.image)
        form.addRow("", self.show_lost)
        form.addRow("", self.loop)
        form.addRow("", self.privacy)
        form.addRow("Depth colour range", self.depth_max)
        form.addRow("Neighbours listed", self.top_k)
        form.addRow("Keep ended tracks", self.recent)
        form.addRow("Source at start", self.source)
        form.addRow("Sessions folder", self.sessions)
        form.addRow("Match distance", self.accept_distance)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def save(self) -> None:
        """Apply the fields to the config and write it; a refused value leaves the dialog open with the reason."""
        c = self.config
        try:
            c.ui.image = self.image.currentText()
            c.ui.show_lost = self.show_lost.isChecked()
            c.ui.loop_replay = self.loop.isChecked()
            c.storage.privacy_skeleton_only = self.privacy.isChecked()
            c.ui.depth_max_m = self.depth_max.value()
            c.ui.top_k = self.top_k.value()
            c.ui.recent_tracks_s = self.recent.value()
            c.ui.sessions_dir = self.sessions.text().strip()
            c.pipeline.source = self.source.text().strip() or "demo"
            c.gallery.accept_distance = self.accept_distance.value() or None
            path = save_user_config(c, self.path)
        except (ValidationError, OSError) as exc:
            self.message.setText(f"Not saved: {exc}")
            return
        self.saved.emit(path)
        self.accept()
