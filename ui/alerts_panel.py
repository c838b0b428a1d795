"""The alerts panel: each alert with its media time, identity, rule and snapshot; double-click jumps there."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from app.desktop import BONES
from app.events import AlertEvent, FrameResult
from ui.models import AlertListModel


SKETCH_BACKGROUND_BGR = (41, 35, 30)
SKETCH_BONE_BGR = (247, 195, 79)


def snapshot_of(frame: FrameResult, track_id: int, margin_px: int = 12, *,
                privacy: bool = False) -> np.ndarray | None:
    """The colour crop (h, w, 3) BGR around a track's 2D keypoints in `frame`, or None when it is not visible.

    With `privacy` (the skeleton-only mode) it is a drawing of the skeleton's bones on a plain background of the
    same size instead: nothing of the colour image is kept.
    """
    view = next((v for v in frame.tracks if v.track_id == track_id), None)
    if view is None or view.keypoints_2d is None or (frame.color is None and not privacy):
        return None
    keypoints = np.asarray(view.keypoints_2d, dtype=np.float64)  # (20, 2) pixels
    pts = keypoints[np.isfinite(keypoints).all(1)]
    if not len(pts):
        return None
    h, w = frame.color.shape[:2] if frame.color is not None else (np.inf, np.inf)
    x0, y0 = np.maximum(pts.min(0).astype(int) - margin_px, 0)
    x1, y1 = np.minimum(pts.max(0).astype(int) + margin_px, [w, h]).astype(int)
    if x1 <= x0 or y1 <= y0:
        return None
    if not privacy:
        return frame.color[y0:y1, x0:x1].copy()
    sketch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    sketch[:] = SKETCH_BACKGROUND_BGR
    local = keypoints - (x0, y0)
    for a, b in BONES:
        if np.isfinite(local[[a, b]]).all():
            cv2.line(sketch, tuple(int(v) for v in local[a]), tuple(int(v) for v in local[b]), SKETCH_BONE_BGR, 2,
                     cv2.LINE_AA)
    return sketch


class AlertsPanel(QWidget):
    """Alert list + snapshot of the selected one. `jump_requested(AlertEvent)` to replay that moment."""

    jump_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.privacy = False  # skeleton-only privacy mode: snapshots are skeleton drawings
        self.model = AlertListModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.snapshot = QLabel("No alert selected")
        self.snapshot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.snapshot.setMinimumHeight(160)
        self.jump = QPushButton("Jump to this moment in replay")
        self.jump.setEnabled(False)
        self.hint = QLabel("Alerts fire for watchlisted identities and the alert rules in the database "
                           "(./skelwatch gallery --help).")
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for w in (self.table, self.snapshot, self.jump, self.hint):
            layout.addWidget(w)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(lambda _: self._jump())
        self.jump.clicked.connect(self._jump)

    def add(self, event: AlertEvent, frame: FrameResult | None = None) -> None:
        """List an alert; without a snapshot of its own it gets the track's crop from `frame` (the newest shown)."""
        if event.snapshot is None and frame is not None:
            event = replace(event, snapshot=snapshot_of(frame, event.track_id, privacy=self.privacy))
        self.model.add(event)

    def clear(self) -> None:
        self.model.clear()
        self.snapshot.setText("No alert selected")

    def selected(self) -> AlertEvent | None:
        rows = self.table.selectionModel().selectedRows()
        return None if not rows else self.model.data(rows[0], Qt.ItemDataRole.UserRole)

    def _on_selection(self, *_: object) -> None:
        event = self.selected()
        self.jump.setEnabled(event is not None)
        if event is None or event.snapshot is None:
            self.snapshot.setPixmap(QPixmap())
            self.snapshot.setText("no snapshot" if event is not None else "No alert selected")
            return
        rgb = np.ascontiguousarray(event.snapshot[:, :, ::-1])
        h, w, _ = rgb.shape
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.snapshot.setPixmap(QPixmap.fromImage(image).scaledToHeight(160))

    def _jump(self) -> None:
        event = self.selected()
        if event is not None:
            self.jump_requested.emit(event)
