"""A small front view of a skeleton: the gallery's thumbnail of a person (last pose seen in this run)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.desktop import BONES


class SkeletonThumb(QWidget):
    """Draws (20, 3) camera-frame joints (x right, y down) fitted into the widget, or a placeholder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(120, 170)
        self.joints: np.ndarray | None = None
        self.caption = ""

    def set_pose(self, joints: object, caption: str) -> None:
        self.joints = None if joints is None else np.asarray(joints, dtype=np.float64)
        self.caption = caption
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#1b1e22"))
        p.setPen(QColor("#9aa4ae"))
        if self.joints is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "not seen\nin this run" if self.caption else "")
            return
        xy = self.joints[:, :2] - self.joints[:, :2].mean(0)
        span = max(float(np.ptp(xy[:, 1])), float(np.ptp(xy[:, 0])), 1e-3)
        scale = (self.height() - 36) / span
        pts = xy * scale + np.array([self.width() / 2, (self.height() - 18) / 2])
        p.setPen(QPen(QColor("#4fc3f7"), 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        for a, b in BONES:
            p.drawLine(QPointF(*pts[a]), QPointF(*pts[b]))
        p.setPen(QColor("#e0e0e0"))
        p.drawText(self.rect().adjusted(0, 0, 0, -2), Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter,
                   self.caption)
