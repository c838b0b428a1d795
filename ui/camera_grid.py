"""The camera grid: one live view per camera, each titled with its camera's name, laid out as near a square as fits.

One source fills the area with no title (the single-source window as before); two cameras sit side by side, three or four
make 2x2, and so on. Each view is an ordinary `LiveView`, so every camera gets the same overlays. A camera whose
source failed mid-run keeps its place, titled as stopped with the reason, while the others go on.
"""
from __future__ import annotations

import math
from typing import Callable

from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from app.events import FrameResult
from ui.live_view import LiveView


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for `n` views: 1 -> 1x1, 2 -> 1x2, 3-4 -> 2x2, 5-6 -> 2x3, 7-9 -> 3x3."""
    columns = math.ceil(math.sqrt(max(n, 1)))
    return math.ceil(max(n, 1) / columns), columns


class CameraTile(QWidget):
    """A camera's title above its live view."""

    def __init__(self, view: LiveView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.title = QLabel()
        self.title.setObjectName("cameraTitle")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(view, 1)

    def set_camera(self, name: str) -> None:
        self.title.setText(name)
        self.title.setStyleSheet("")
        self.title.setToolTip("")

    def set_stopped(self, name: str, reason: str) -> None:
        self.title.setText(f"{name}: stopped")
        self.title.setStyleSheet("color: #ef5350; font-weight: bold;")
        self.title.setToolTip(reason)
        self.view.clear()
        self.view.set_message(f"Camera {name} stopped:\n{reason}")


class CameraGrid(QWidget):
    """The views of the open cameras. `primary` is the first camera's view (the only one with one camera).

    Args:
        style_view: applies the window's display settings (image kind, privacy, overlays) to a new view.
    """

    def __init__(self, style_view: Callable[[LiveView], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._style_view = style_view
        self.primary = LiveView()
        style_view(self.primary)
        self.tiles: dict[str, CameraTile] = {}
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._primary_tile = CameraTile(self.primary)
        self.set_cameras([])

    @property
    def views(self) -> list[LiveView]:
        """Every view shown, the primary first."""
        return [self.primary, *(t.view for t in self.tiles.values() if t.view is not self.primary)]

    def set_cameras(self, names: list[str]) -> None:
        """Lay out one view per named camera; with none (one source), the primary view alone and untitled."""
        for tile in list(self.tiles.values()):
            self._layout.removeWidget(tile)
            if tile is not self._primary_tile:
                tile.deleteLater()
        self.tiles = {}
        self._primary_tile.title.setVisible(bool(names))
        rows, columns = grid_shape(len(names))
        for k, name in enumerate(names or [""]):
            if k == 0:
                tile = self._primary_tile
            else:
                view = LiveView()
                self._style_view(view)
                tile = CameraTile(view)
            tile.set_camera(name)
            self.tiles[name] = tile
            self._layout.addWidget(tile, k // columns, k % columns)
        self._primary_tile.show()

    def view_for(self, camera: str) -> LiveView:
        """The view of `camera` (the primary one for one source, whatever its frames call their camera)."""
        tile = self.tiles.get(camera)
        return tile.view if tile is not None else self.primary

    def show_frame(self, frame: FrameResult) -> None:
        self.view_for(frame.camera).show_frame(frame)

    def frame_with_track(self, track_id: int) -> FrameResult | None:
        """The newest frame shown that has track `track_id` (an alert's snapshot), else the primary view's."""
        frames = [v.frame for v in self.views if v.frame is not None]
        return next((f for f in frames if any(t.track_id == track_id for t in f.tracks)), self.primary.frame)

    def camera_stopped(self, camera: str, reason: str) -> bool:
        """Mark `camera` as stopped; False when no view shows it."""
        tile = self.tiles.get(camera)
        if tile is None or not camera:
            return False
        tile.set_stopped(camera, reason)
        return True

    def set_message(self, text: str) -> None:
        for view in self.views:
            view.set_message(text)

    def clear(self) -> None:
        for view in self.views:
            view.clear()
