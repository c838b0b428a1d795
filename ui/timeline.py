"""The replay bar: play / pause / step, speed 0.25x-8x, and a timeline with sighting and alert markers.

The timeline paints the media position, a tick per matched window (coloured by track) and a red marker per alert;
clicking or dragging on it asks for a seek. It holds no playback state of its own: the window forwards its signals
to the controller and feeds it positions from the frames shown.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QStyle, QToolButton, QWidget

from ui.live_view import track_color

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def fmt_time(t_s: float) -> str:
    minutes, seconds = divmod(max(t_s, 0.0), 60.0)
    return f"{int(minutes):02d}:{seconds:05.2f}"


class Timeline(QWidget):
    """A seek bar with markers. `seek_requested(t_s)` when the user clicks or drags."""

    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.duration_s: float | None = None
        self.position_s = 0.0
        self.sightings: list[tuple[float, int]] = []  # (media time s, track id)
        self.alerts: list[float] = []

    def reset(self, duration_s: float | None) -> None:
        self.duration_s, self.position_s = duration_s, 0.0
        self.sightings.clear()
        self.alerts.clear()
        self.setEnabled(bool(duration_s))
        self.update()

    def set_position(self, t_s: float) -> None:
        self.position_s = t_s
        self.update()

    def add_sighting(self, t_s: float, track_id: int) -> None:
        self.sightings.append((t_s, track_id))
        self.update()

    def add_alert(self, t_s: float) -> None:
        self.alerts.append(t_s)
        self.update()

    def _bar(self) -> QRectF:
        return QRectF(8, 12, self.width() - 16, 10)

    def _x(self, t_s: float) -> float:
        bar = self._bar()
        return bar.left() + bar.width() * min(max(t_s / (self.duration_s or 1.0), 0.0), 1.0)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        bar = self._bar()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#2b3036"))
        p.drawRoundedRect(bar, 4, 4)
        if not self.duration_s:
            return
        done = QRectF(bar.left(), bar.top(), self._x(self.position_s) - bar.left(), bar.height())
        p.setBrush(QColor("#3d6f99"))
        p.drawRoundedRect(done, 4, 4)
        for t, track_id in self.sightings:
            p.setPen(QPen(track_color(track_id), 1.5))
            x = self._x(t)
            p.drawLine(QPointF(x, bar.bottom() + 2), QPointF(x, bar.bottom() + 8))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#ef5350"))
        for t in self.alerts:
            x = self._x(t)
            p.drawPolygon(QPolygonF([QPointF(x - 4, 2), QPointF(x + 4, 2), QPointF(x, 10)]))
        x = self._x(self.position_s)
        p.setBrush(QColor("#e3f2fd"))
        p.drawEllipse(QPointF(x, bar.center().y()), 6, 6)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._seek_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._seek_to(event.position().x())

    def _seek_to(self, x: float) -> None:
        if not self.duration_s:
            return
        bar = self._bar()
        t = (x - bar.left()) / bar.width() * self.duration_s
        t = min(max(t, 0.0), self.duration_s)
        self.position_s = t
        self.update()
        self.seek_requested.emit(t)


class ReplayBar(QWidget):
    """Play/pause, step, speed and the timeline with the position as text."""

    play_toggled = Signal()
    step_requested = Signal()
    speed_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        self.play = QToolButton(toolTip="Play / pause (Space)")
        self.play.setObjectName("playButton")
        self.step = QToolButton(toolTip="Step one frame (. or Right)")
        self.step.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward))
        self.loop = QToolButton(text="Loop", checkable=True, toolTip="Start the recording again when it ends")
        self.speed = QComboBox(toolTip="Replay speed")
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.timeline = Timeline()
        self.clock = QLabel("--:--.-- / --:--.--")
        self.clock.setObjectName("clock")
        self.set_paused(False)
        for w in (self.play, self.step, self.speed, self.loop):
            layout.addWidget(w)
        layout.addWidget(self.timeline, 1)
        layout.addWidget(self.clock)
        self.play.clicked.connect(self.play_toggled)
        self.step.clicked.connect(self.step_requested)
        self.speed.currentIndexChanged.connect(lambda i: self.speed_changed.emit(float(self.speed.itemData(i))))

    def set_speed(self, speed: float) -> None:
        nearest = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))
        self.speed.setCurrentIndex(nearest)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        icon = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.play.setIcon(self.style().standardIcon(icon))

    def set_seekable(self, seekable: bool, duration_s: float | None) -> None:
        """Replay controls on for recordings (one, or several cameras in step), off for a live camera."""
        for w in (self.step, self.speed, self.loop):  # looping starts again by a seek
            w.setEnabled(seekable)
        self.timeline.reset(duration_s if seekable else None)

    def set_position(self, t_s: float) -> None:
        self.timeline.set_position(t_s)
        total = fmt_time(self.timeline.duration_s) if self.timeline.duration_s else "live"
        self.clock.setText(f"{fmt_time(t_s)} / {total}")
