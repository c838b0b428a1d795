"""Settings: the GUI section and the few pipeline and matching keys an operator changes, saved to the config file.

The dialog makes a new config through `app.config.with_changes` (an out-of-range value is refused with the
section's own message) and hands it to the window, which rebuilds what it affects; saving writes only what
differs from the defaults (`app.config.save_user_config`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget)

from app.config import ConfigError, SkelwatchConfig, default_config_path, save_user_config, with_changes


class SettingsDialog(QDialog):
    """On Save, writes the file and emits `saved(new config, path)`."""

    saved = Signal(object, object)

    def __init__(self, config: SkelwatchConfig, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("skelwatch settings")
        self.config = config
        self.path = path or default_config_path()
        u, g = config.ui, config.gallery
        self.image = QComboBox()
        self.image.addItems(["color", "depth"])
        self.image.setCurrentText(u.image)
        self.show_lost = QCheckBox("Draw tracks not seen this frame (dashed)")
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
        """Make the new config and write it; a refused value leaves the dialog open with the reason."""
        changes = {
            "ui.image": self.image.currentText(), "ui.show_lost": self.show_lost.isChecked(),
            "ui.loop_replay": self.loop.isChecked(), "ui.depth_max_m": self.depth_max.value(),
            "storage.privacy_skeleton_only": self.privacy.isChecked(),
            "ui.top_k": self.top_k.value(), "ui.recent_tracks_s": self.recent.value(),
            "ui.sessions_dir": self.sessions.text().strip(),
            "pipeline.source": self.source.text().strip() or "demo",
            "gallery.accept_distance": self.accept_distance.value() or None,
        }
        try:
            config = with_changes(self.config, changes)
            path = save_user_config(config, self.path)
        except (ConfigError, OSError) as exc:
            self.message.setText(f"Not saved: {exc}")
            return
        self.config = config
        self.saved.emit(config, path)
        self.accept()
