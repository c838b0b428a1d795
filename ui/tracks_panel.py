"""The tracks panel: current and recent tracks (with their camera when there are several), each named person's
sightings by camera and time (their way across cameras), and for the selected track its gallery neighbours and
evidence.

The evidence is an `app.explain.Explanation` computed off the GUI thread: the top-k identities with per-level
distances, the importance of each frame of the newest window, and each window's distance to the best identity.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.explain import Explanation
from ui.models import SORT_ROLE, JourneyTableModel, TrackTableModel


def _table(view: QTableView | QTableWidget, widths: tuple[int, ...]) -> None:
    """Fixed starting widths: ResizeToContents re-measured every cell on every update (seen as GUI stalls)."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.verticalHeader().setVisible(False)
    view.setAlternatingRowColors(True)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    for column, width in enumerate(widths):
        header.resizeSection(column, width)


def _plot(title: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="#1b1e22")
    plot.setTitle(title, color="#c8ced4", size="9pt")
    plot.setLabel("left", left, color="#9aa4ae")
    plot.setLabel("bottom", "media time (s)", color="#9aa4ae")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMinimumHeight(110)
    return plot


class TracksPanel(QWidget):
    """Track table, then the people's sightings by camera, then the selected track's neighbours and evidence
    plots. `selected(track_id | None)`."""

    selected = Signal(object)

    def __init__(self, model: TrackTableModel, journeys: JourneyTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # Live tracks stay at the top: on a busy video the ended ones would otherwise push them off screen.
        self.rows = QSortFilterProxyModel(self)
        self.rows.setSourceModel(model)
        self.rows.setSortRole(SORT_ROLE)
        self.rows.setDynamicSortFilter(True)
        self.rows.sort(0)
        self.table = QTableView()
        self.table.setModel(self.rows)
        _table(self.table, (60, 85, 75, 110, 55, 150))
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.show_cameras(False)
        self.journeys = QTableView()
        self.journeys.setModel(journeys)
        _table(self.journeys, (110, 130))
        self.journeys.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        people = QWidget()
        pl = QVBoxLayout(people)
        pl.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("People seen: where and when (media time)")
        heading.setObjectName("sectionTitle")
        pl.addWidget(heading)
        pl.addWidget(self.journeys)
        self.title = QLabel("Select a track to see why it was matched")
        self.title.setObjectName("sectionTitle")
        self.neighbours = QTableWidget(0, 5)
        self.neighbours.setHorizontalHeaderLabels(["Rank / identity", "Distance", "Joint", "Component", "Limb"])
        _table(self.neighbours, (150, 80, 80, 90))
        self.neighbours.setMinimumHeight(150)
        self.importance = _plot("Frame importance (newest window)", "share")
        self.distances = _plot("Distance to best identity per window", "distance")
        details = QWidget()
        dl = QVBoxLayout(details)
        dl.setContentsMargins(0, 0, 0, 0)
        for w in (self.title, self.neighbours, self.importance, self.distances):
            dl.addWidget(w)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(people)
        split.addWidget(details)
        split.setSizes([230, 130, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.explanation: Explanation | None = None

    def show_cameras(self, shown: bool) -> None:
        """The Camera column, shown when several cameras are open."""
        self.table.setColumnHidden(TrackTableModel.CAMERA_COLUMN, not shown)

    def selected_track(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return None if not rows else self.rows.data(rows[0], Qt.ItemDataRole.UserRole)

    def index_of(self, track_id: int, column: int = 0) -> QModelIndex:
        """Where track `track_id` is listed (invalid when it is not)."""
        if track_id not in self.model.book.records:
            return QModelIndex()
        return self.rows.mapFromSource(self.model.index(self.model.book.row_of(track_id), column))

    def select_track(self, track_id: int) -> None:
        index = self.index_of(track_id)
        if index.isValid():
            self.table.selectRow(index.row())

    def _on_selection(self, *_: object) -> None:
        track_id = self.selected_track()
        self.title.setText(f"Track #{track_id}: computing neighbours…" if track_id is not None
                           else "Select a track to see why it was matched")
        self.selected.emit(track_id)

    def show_explanation(self, exp: Explanation) -> None:
        """Fill the neighbours table and the plots (ignored if another track was selected meanwhile)."""
        if exp.track_id != self.selected_track():
            return
        self.explanation = exp
        record = self.model.book.records.get(exp.track_id)
        who = record.identity.label if record is not None else "?"
        self.title.setText(f"Track #{exp.track_id} ({who}): {len(exp.neighbours)} nearest identities"
                           if exp.neighbours else f"Track #{exp.track_id}: no gallery neighbours yet "
                           "(needs a full window and an enrolled gallery)")
        self.neighbours.setRowCount(len(exp.neighbours))
        for row, c in enumerate(exp.neighbours):
            levels = [c.level_distances.get(k) for k in ("joint", "component", "limb")]
            cells = [f"{row + 1}. {c.name}", f"{c.distance:.3f}",
                     *("—" if v is None else f"{v:.3f}" for v in levels)]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.neighbours.setItem(row, col, item)
        self.importance.clear()
        if len(exp.frame_times_s):
            width = float(np.median(np.diff(exp.frame_times_s))) * 0.8 if len(exp.frame_times_s) > 1 else 0.05
            self.importance.addItem(pg.BarGraphItem(x=exp.frame_times_s, height=exp.frame_importance, width=width,
                                                    brush="#4fc3f7"))
        self.distances.clear()
        finite = np.isfinite(exp.window_distances)
        if finite.any():
            self.distances.plot(exp.window_times_s[finite], exp.window_distances[finite], pen=pg.mkPen("#ffb74d", width=2),
                                symbol="o", symbolSize=5, symbolBrush="#ffb74d")
