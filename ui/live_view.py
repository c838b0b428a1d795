"""The live view: the colour or depth image with every tracked skeleton, its track id, name and confidence.

It only paints what the newest `FrameResult` says. Sources without images (skeleton files) are drawn on a dark
canvas through a fixed virtual pinhole, so the same overlay shows what the tracker sees.
"""
from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.events import FrameResult, TrackView
from app.desktop import BONES

CANVAS = (640, 480)              # size of the virtual image for sources without images (pixels)
VIRTUAL_F = 480.0                # focal length of that virtual pinhole (pixels)
PALETTE = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#4db6ac", "#f06292", "#a1887f")
BACKGROUND = QColor("#15181c")


def track_color(track_id: int) -> QColor:
    return QColor(PALETTE[track_id % len(PALETTE)])


def depth_to_bgr(depth_m: np.ndarray, max_m: float) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 BGR with the turbo map (near = red); holes (0) black."""
    scaled = cv2.convertScaleAbs(depth_m, alpha=-255.0 / max_m, beta=255.0)  # near -> 255, far -> 0
    bgr = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    bgr[depth_m <= 0] = 0
    return bgr


def _project(view: TrackView) -> np.ndarray:
    """Pixel positions (20, 2) of a track: its own 2D keypoints, else the virtual pinhole of the 3D joints."""
    if view.keypoints_2d is not None:
        return np.asarray(view.keypoints_2d, dtype=np.float64)
    joints = np.asarray(view.joints_3d, dtype=np.float64)
    z = np.maximum(joints[:, 2], 0.1)
    return np.stack([VIRTUAL_F * joints[:, 0] / z + CANVAS[0] / 2, VIRTUAL_F * joints[:, 1] / z + CANVAS[1] / 2], 1)


class LiveView(QWidget):
    """Paints the newest frame scaled to fit, with the overlays. `show_frame` is the only input."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.image_kind = "color"
        self.privacy = False  # skeleton-only privacy mode: never paint the colour image (depth, or a dark canvas)
        self.depth_max_m = 6.0
        self.show_skeletons = True
        self.show_lost = False
        self.label_boxes: list[QRectF] = []  # the name labels of the last paint, placed so none overlaps
        self.selected_track: int | None = None
        self.message = "No source open"
        self.frame: FrameResult | None = None
        self._image: QImage | None = None
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._source_size = CANVAS  # (w, h) of the frame's image before scaling

    def set_message(self, text: str) -> None:
        """Text shown in the middle when there is no frame (e.g. no camera found)."""
        self.message = text
        self.update()

    def clear(self) -> None:
        self.frame, self._image, self._pixels = None, None, None
        self.update()

    def show_frame(self, frame: FrameResult) -> None:
        self.frame = frame
        self._image = self._make_image(frame)
        self.update()

    def _make_image(self, frame: FrameResult) -> QImage | None:
        if (self.image_kind == "depth" or self.privacy) and frame.depth_m is not None:
            bgr = depth_to_bgr(frame.depth_m, self.depth_max_m)
        elif frame.color is not None and not self.privacy:
            bgr = frame.color
        elif frame.depth_m is not None:
            bgr = depth_to_bgr(frame.depth_m, self.depth_max_m)
        else:
            return None
        self._source_size = (bgr.shape[1], bgr.shape[0])
        # Scaled here by OpenCV (SIMD) to the size it is drawn at: QPainter's software scaling cost 10-20 ms per
        # frame. BGRA bytes are Qt's RGB32 on little-endian machines: the format QPainter draws unconverted.
        _, scale = self._fit(*self._source_size)
        size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
        scaled = cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR) if size != self._source_size else bgr
        self._pixels = cv2.cvtColor(scaled, cv2.COLOR_BGR2BGRA)
        h, w, _ = self._pixels.shape
        return QImage(self._pixels.data, w, h, 4 * w, QImage.Format.Format_RGB32)

    def _fit(self, iw: int, ih: int) -> tuple[QRectF, float]:
        """Where an iw x ih image is drawn (centred, aspect kept) and its scale."""
        scale = min(self.width() / iw, self.height() / ih)
        return QRectF((self.width() - iw * scale) / 2, (self.height() - ih * scale) / 2, iw * scale, ih * scale), scale

    def resizeEvent(self, event) -> None:  # noqa: N802
        if self.frame is not None:
            self._image = self._make_image(self.frame)
        super().resizeEvent(event)

    # --- painting --------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), BACKGROUND)
        if self.frame is None:
            painter.setPen(QColor("#9aa4ae"))
            painter.setFont(QFont(self.font().family(), 13))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        target, scale = self._fit(*(self._source_size if self._image is not None else CANVAS))
        if self._image is not None:
            painter.drawImage(target.topLeft(), self._image)
        else:
            painter.fillRect(target, QColor("#1e2329"))
        self.label_boxes = []
        if self.show_skeletons:
            for view in self.frame.tracks:
                if not view.observed and not self.show_lost:  # nobody is there this frame: draw no one
                    continue
                self._draw_track(painter, view, target.topLeft(), scale)
        self._draw_hud(painter)

    def _draw_track(self, painter: QPainter, view: TrackView, origin: QPointF, scale: float) -> None:
        pts = _project(view) * scale + np.array([origin.x(), origin.y()])
        color = track_color(view.track_id)
        if view.state != "confirmed" or not view.observed:
            color.setAlpha(140)
        width = 3.0 if view.track_id == self.selected_track else 2.0
        painter.setPen(QPen(color, width, Qt.PenStyle.SolidLine if view.observed else Qt.PenStyle.DashLine,
                            Qt.PenCapStyle.RoundCap))
        conf = np.asarray(view.confidence)
        for a, b in BONES:
            if conf[a] > 0.1 and conf[b] > 0.1 and np.isfinite(pts[[a, b]]).all():
                painter.drawLine(QPointF(*pts[a]), QPointF(*pts[b]))
        painter.setBrush(color)
        for (x, y), c in zip(pts, conf):
            if c > 0.1 and np.isfinite(x) and np.isfinite(y):
                painter.drawEllipse(QPointF(x, y), 2.5, 2.5)
        finite = pts[np.isfinite(pts).all(1)]
        if len(finite):
            self._draw_label(painter, view, QPointF(finite[:, 0].min(), finite[:, 1].min() - 8), color)

    def _draw_label(self, painter: QPainter, view: TrackView, anchor: QPointF, color: QColor) -> None:
        name = view.identity_name or ("unknown" if view.decision in ("unknown", "ambiguous") else "…")
        text = f"#{view.track_id}  {name}"
        if not view.observed:
            text += "  (not seen)"
        elif view.identity_name:
            text += f"  {view.match_confidence:.2f}"
        font = QFont(self.font().family(), 10, QFont.Weight.DemiBold)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        box = self._free_box(QRectF(anchor.x(), anchor.y() - metrics.height() - 4,
                                    metrics.horizontalAdvance(text) + 12, metrics.height() + 4))
        self.label_boxes.append(box)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 22, 26, 200))
        painter.drawRoundedRect(box, 4, 4)
        painter.fillRect(QRectF(box.left(), box.top(), 4, box.height()), color)
        painter.setPen(QColor("#ffffff") if view.identity_name else QColor("#c8ced4"))
        painter.drawText(box.adjusted(8, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)

    def _free_box(self, box: QRectF) -> QRectF:
        """`box` moved up or down by whole label heights (nearest first) until it overlaps no label drawn this
        frame, so the names of people walking close together stay readable instead of piling up."""
        step = box.height() + 2
        for n in range(len(self.label_boxes) + 1):
            for shift in ((0,) if n == 0 else (-n, n)):
                candidate = box.translated(0, shift * step)
                if not any(candidate.intersects(other) for other in self.label_boxes):
                    return candidate
        return box

    def _draw_hud(self, painter: QPainter) -> None:
        f = self.frame
        if f is None:
            return
        lines = [f"{f.fps:5.1f} fps", f"dropped {f.dropped_frames}", f"t {f.timestamp_s:7.2f} s  frame {f.frame_index}"]
        painter.setFont(QFont("monospace", 9))
        metrics = painter.fontMetrics()
        w = max(metrics.horizontalAdvance(s) for s in lines) + 16
        box = QRectF(8, 8, w, len(lines) * metrics.height() + 10)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor("#e0e0e0"))
        for i, line in enumerate(lines):
            painter.drawText(QPointF(16, 13 + (i + 1) * metrics.height() - metrics.descent()), line)
