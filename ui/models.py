"""Qt item models over plain state: they map change events to row signals and format values; no computing.

`TrackTableModel` adapts `ui.state.TrackBook`; `JourneyTableModel` adapts `ui.state.Journeys`; `IdentityTableModel` adapts a list of `IdentitySummary`s that the gallery
panel reloads from storage; `AlertListModel` adapts the alert events the pipeline emitted.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from app.events import AlertEvent, FrameResult, MatchEvent
from app.gallery_service import IdentitySummary
from ui.state import Changes, Journeys, TrackBook, TrackRecord

Index = QModelIndex | QPersistentModelIndex
DECISION_COLORS = {"match": "#81c784", "unknown": "#e0e0e0", "ambiguous": "#ffb74d", "pending": "#9e9e9e"}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # the order the tracks panel lists rows in
STATE_COLORS = {"confirmed": "#e0e0e0", "tentative": "#9e9e9e", "lost": "#ffb74d", "ended": "#757575"}


def _fmt_distances(d: tuple[float, float, float] | None) -> str:
    return "—" if d is None else "  ".join(f"{x:.2f}" for x in d)


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(timezone.utc) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


class _Table(QAbstractTableModel):
    """A flat table with fixed column headers: subclasses give HEADERS, `_count()` and `data()`."""

    HEADERS: tuple[str, ...] = ()

    def _count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._count()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None


class TrackTableModel(_Table):
    """Current and recent tracks: id, state, duration, best match, confidence, per-level distances, camera."""

    # Camera comes last so the columns before it mean the same with one camera (the panel hides it then).
    HEADERS = ("Track", "State", "Duration", "Identity", "Conf.", "Dist. joint/comp./limb", "Windows", "Camera")
    CAMERA_COLUMN = 7

    def __init__(self, book: TrackBook) -> None:
        super().__init__()
        self.book = book

    def _count(self) -> int:
        return len(self.book.order)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.book.record_at(index.row())
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (f"#{r.track_id}", r.state, f"{r.duration_s:.1f} s", r.identity.label,
                    f"{r.identity.confidence:.2f}" if r.identity.name else "—",
                    _fmt_distances(r.identity.level_distances),
                    str(len(r.windows)), r.camera)[col]
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 1:
                return QBrush(QColor(STATE_COLORS.get(r.state, "#e0e0e0")))
            if col == 3:
                return QBrush(QColor(DECISION_COLORS.get(r.identity.decision, "#e0e0e0")))
            if not r.present:
                return QBrush(QColor("#757575"))
        if role == Qt.ItemDataRole.UserRole:
            return r.track_id
        if role == SORT_ROLE:  # tracks in view first (oldest first), then the ended ones, newest ended first
            return float(r.track_id) if r.present else 1e12 - r.last_s
        return None

    def apply_frame(self, frame: FrameResult) -> Changes:
        """Fold a frame into the book, announcing each row change to the views."""
        if self.book.jumps_back(frame):
            self.clear()
        new_ids = self.book.new_ids(frame)
        if new_ids:
            first = len(self.book.order)
            self.beginInsertRows(QModelIndex(), first, first + len(new_ids) - 1)
        changes = self.book.apply_frame(frame)
        if new_ids:
            self.endInsertRows()
        if self.book.order:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.book.order) - 1, self.columnCount() - 1))
        for track_id in changes.removed:
            row = self.book.row_of(track_id)
            self.beginRemoveRows(QModelIndex(), row, row)
            self.book.remove(track_id)
            self.endRemoveRows()
        return changes

    def apply_match(self, event: MatchEvent) -> None:
        track_id = self.book.apply_match(event)
        if track_id is not None:
            row = self.book.row_of(track_id)
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self.book.clear()
        self.endResetModel()


class JourneyTableModel(_Table):
    """Each named identity: the cameras that saw it and its sightings in time order (its route across cameras)."""

    HEADERS = ("Identity", "Cameras", "Seen (camera, media time)")

    def __init__(self, journeys: Journeys) -> None:
        super().__init__()
        self.journeys = journeys

    def _count(self) -> int:
        return len(self.journeys.order)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        j = self.journeys.journey_at(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return (j.name, ", ".join(j.cameras), j.route())[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 1 and len(j.cameras) > 1:
            return QBrush(QColor("#81c784"))  # seen on several cameras: the person's way through the site
        return None

    def note(self, records: list[TrackRecord]) -> None:
        """Fold in a frame's named tracks: a reset when an identity row comes or goes (rare), else one update."""
        if any(self.journeys.changes_rows(r) for r in records):
            self.beginResetModel()
            for record in records:
                self.journeys.note(record)
            self.endResetModel()
        elif records and self._count():
            for record in records:
                self.journeys.note(record)
            self.dataChanged.emit(self.index(0, 0), self.index(self._count() - 1, self.columnCount() - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self.journeys.clear()
        self.endResetModel()


class IdentityTableModel(_Table):
    """Identities: name, watchlist, enrolled windows, sightings, last seen."""

    HEADERS = ("Name", "Watchlist", "Windows", "Sightings", "Last seen", "Notes")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[IdentitySummary] = []

    def set_rows(self, rows: list[IdentitySummary]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def _count(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            stale = f" ({r.stale_embeddings} stale)" if r.stale_embeddings else ""
            return (r.name, "★" if r.watchlist else "", f"{r.embeddings}{stale}", str(r.sightings),
                    _ago(r.last_seen), r.notes)[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 1:
            return QBrush(QColor("#ffb74d"))
        if role == Qt.ItemDataRole.UserRole:
            return r.id
        return None


class AlertListModel(_Table):
    """Alerts as they fired: media time, identity, rule, track."""

    HEADERS = ("Time", "Identity", "Rule", "Track")

    def __init__(self) -> None:
        super().__init__()
        self.events: list[AlertEvent] = []

    def add(self, event: AlertEvent) -> None:
        row = len(self.events)
        self.beginInsertRows(QModelIndex(), row, row)
        self.events.append(event)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.events.clear()
        self.endResetModel()

    def _count(self) -> int:
        return len(self.events)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.events[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (f"{e.timestamp_s:.2f} s", e.identity_name or "unknown", e.rule, f"#{e.track_id}")[index.column()]
        if role == Qt.ItemDataRole.UserRole:
            return e
        return None
