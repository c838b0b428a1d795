"""The gallery panel: identities with sightings and last seen, unknown candidates, and every identity operation.

Operations run through `app.gallery_service.GalleryService` on a task thread (each one storage transaction); the
table reloads from storage after each. Rename, watchlist, enrol, merge and split can be undone (Ctrl+Z); delete
and forget ask first and cannot. Names are typed in the panel's name field, so nothing here needs a modal dialog
except the confirmation of a destructive action.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSplitter,
                               QTableView, QVBoxLayout, QWidget)

from app.gallery_service import GalleryService, IdentitySummary, TrackNotStored, UnknownCandidate, Undo
from ui.models import IdentityTableModel
from ui.skeleton_thumb import SkeletonThumb
from ui.tasks import TaskRunner


def ask_confirmation(parent: QWidget, text: str) -> bool:
    answer = QMessageBox.question(parent, "skelwatch", text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


@dataclass(frozen=True)
class SelectedTrack:
    """The track selected in the Tracks panel, as the gallery's actions need it."""

    track_id: int                              # the tracker's number, as shown
    identity_id: int | None                    # who it is named as (None: nobody)
    windows: Callable[[], np.ndarray]          # its newest (N, f, 20, 3) windows, for enrolment
    db_id: Callable[[], int | None]            # its storage id (a query: call it on a task thread)


class GalleryPanel(QWidget):
    """Identities table + actions. `set_service` once storage is open; `changed` after every committed edit."""

    changed = Signal()
    status = Signal(str)

    def __init__(self, tasks: TaskRunner, selection: Callable[[], SelectedTrack | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.selection = selection
        self.service: GalleryService | None = None
        self.undo_stack: list[Undo] = []
        self.confirm: Callable[[QWidget, str], bool] = ask_confirmation
        self.model = IdentityTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # ResizeToContents re-measures every cell
        header.setStretchLastSection(True)
        for column, width in enumerate((140, 75, 80, 80, 100)):
            header.resizeSection(column, width)
        self.name = QLineEdit(placeholderText="Name for enrol / rename / split")
        self.name.setClearButtonEnabled(True)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        actions = (("enrol_track", "Enrol selected track", self.enrol_track),
                   ("enrol_unknown", "Enrol unknown", self.enrol_unknown),
                   ("rename", "Rename", self.rename), ("merge", "Merge", self.merge),
                   ("split", "Split windows", self.split), ("watchlist", "Watchlist ★", self.toggle_watchlist),
                   ("not_this", "Not this person", self.not_this),
                   ("delete", "Delete", lambda: self.remove(False)), ("forget", "Forget", lambda: self.remove(True)),
                   ("undo", "Undo", self.undo), ("refresh", "Refresh", self.refresh))
        for i, (key, text, slot) in enumerate(actions):
            button = QPushButton(text)
            button.setObjectName(f"gallery_{key}")
            button.clicked.connect(slot)
            self.buttons[key] = button
            grid.addWidget(button, i // 6, i % 6)
        self.buttons["not_this"].setToolTip("The selected track is not the person it was named as: never match "
                                            "it to them again")
        self.buttons["forget"].setToolTip("Remove every trace: identity, windows, sightings, tracks and alerts")
        self.buttons["delete"].setToolTip("Delete the identity and its windows; past sightings stay as unknown")
        self.thumb = SkeletonThumb()
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.windows = QListWidget()
        self.windows.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.unknowns = QListWidget()
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Name"))
        name_row.addWidget(self.name, 1)
        tl.addLayout(name_row)
        tl.addLayout(grid)
        person = QGroupBox("Selected identity")
        pl = QHBoxLayout(person)
        pl.addWidget(self.thumb)
        side = QVBoxLayout()
        side.addWidget(self.detail)
        side.addWidget(QLabel("Enrolled windows (select some to split)"))
        side.addWidget(self.windows)
        pl.addLayout(side, 1)
        unknown_box = QGroupBox("Unknown candidates (clustered unmatched windows)")
        ul = QVBoxLayout(unknown_box)
        ul.addWidget(self.unknowns)
        split = QSplitter(Qt.Orientation.Vertical)
        for w in (top, person, unknown_box):
            split.addWidget(w)
        split.setSizes([330, 200, 120])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self._poses: dict[int, np.ndarray] = {}  # identity id -> last seen (20, 3) joints
        self._candidates: list[UnknownCandidate] = []
        self.setEnabled(False)

    # --- state -----------------------------------------------------------------------------------------------
    def set_service(self, service: GalleryService) -> None:
        self.service = service
        self.setEnabled(True)
        self.refresh()

    def selected_ids(self) -> list[int]:
        return [self.model.rows[i.row()].id for i in self.table.selectionModel().selectedRows()]

    def selected_rows(self) -> list[IdentitySummary]:
        return [self.model.rows[i.row()] for i in self.table.selectionModel().selectedRows()]

    def select_names(self, *names: str) -> None:
        """Select identities by name (keyboard-free selection for scripts and tests)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, r in enumerate(self.model.rows):
            if r.name in names:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def refresh(self) -> None:
        service = self.service
        if service is None:
            return
        selected = {r.name for r in self.selected_rows()}
        self.tasks.submit(lambda: (service.rows(), service.unknowns()),
                          lambda result: self._show(*result, selected), "reading the gallery")

    def _show(self, rows: list[IdentitySummary], candidates: list[UnknownCandidate], selected: set[str]) -> None:
        self.model.set_rows(rows)
        self._candidates = candidates
        self.unknowns.clear()
        for c in candidates:
            self.unknowns.addItem(QListWidgetItem(
                f"unknown #{c.number}: {c.size} windows from {len(c.track_ids)} tracks, last {c.last_seen:%H:%M:%S}"))
        if selected:
            self.select_names(*selected)
        self._on_selection()  # a model reset does not signal a selection change: the detail may show a gone row
        self.buttons["undo"].setEnabled(bool(self.undo_stack))
        self.buttons["undo"].setToolTip(f"Undo {self.undo_stack[-1].label} (Ctrl+Z)" if self.undo_stack
                                        else "Nothing to undo")

    def _on_selection(self, *_: object) -> None:
        rows = self.selected_rows()
        self.windows.clear()
        if len(rows) != 1 or self.service is None:
            self.thumb.set_pose(None, "")
            self.detail.setText(f"{len(rows)} identities selected" if rows else "No identity selected")
            return
        r = rows[0]
        self.thumb.set_pose(self._poses.get(r.id), r.name)
        self.detail.setText(f"<b>{r.name}</b>{'  ★ watchlist' if r.watchlist else ''}<br>{r.embeddings} windows, "
                            f"{r.sightings} sightings<br>{r.notes}")
        service = self.service
        self.tasks.submit(lambda: service.embeddings(r.id), self._show_windows, "listing windows")

    def _show_windows(self, infos: list) -> None:
        self.windows.clear()
        for e in infos:
            span = f"{e.t_start_s:.1f}-{e.t_end_s:.1f} s" if e.t_start_s is not None else "enrolled"
            where = f"track {e.track_key}" if e.track_key is not None else ""
            item = QListWidgetItem(f"window {e.id}  {span}  {where}{'  (stale)' if e.stale else ''}")
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            self.windows.addItem(item)

    # --- actions ---------------------------------------------------------------------------------------------
    def _typed_name(self, action: str) -> str | None:
        name = self.name.text().strip()
        if not name:
            self.status.emit(f"{action}: type a name in the Name field first")
            self.name.setFocus()
            return None
        return name

    def _run(self, what: str, fn: Callable[[], object], undoable: bool = False) -> None:
        def done(result: object) -> None:
            if undoable and isinstance(result, Undo):
                self.undo_stack.append(result)
            self.status.emit(f"{what}: done")
            self.changed.emit()
            self.refresh()
        self.tasks.submit(fn, done, what)

    def remember_pose(self, identity_id: int, joints: np.ndarray) -> None:
        """The last (20, 3) pose seen of an identity, drawn beside it when it is selected."""
        self._poses[identity_id] = joints

    def enrol_track(self) -> None:
        picked = self.selection()
        name = self._typed_name("Enrol")
        if picked is None:
            self.status.emit("Enrol: select a track in the Tracks panel first")
            return
        if name is None or self.service is None:
            return
        track_id, windows = picked.track_id, picked.windows()
        service = self.service
        self._run(f"enrol track #{track_id} as {name}", lambda: service.enrol_windows(name, windows), True)

    def enrol_unknown(self) -> None:
        row = self.unknowns.currentRow()
        name = self._typed_name("Enrol unknown")
        if not 0 <= row < len(self._candidates):
            self.status.emit("Enrol unknown: pick an unknown candidate in the list first")
            return
        if name is None or self.service is None:
            return
        candidate, service = self._candidates[row], self.service
        self._run(f"enrol unknown #{candidate.number} as {name}", lambda: service.enrol_unknown(name, candidate), True)

    def rename(self) -> None:
        ids = self.selected_ids()
        name = self._typed_name("Rename")
        if len(ids) != 1:
            self.status.emit("Rename: select exactly one identity")
            return
        if name is None or self.service is None:
            return
        service = self.service
        self._run(f"rename to {name}", lambda: service.rename(ids[0], name), True)

    def merge(self) -> None:
        ids = self.selected_ids()
        if len(ids) < 2 or self.service is None:
            self.status.emit("Merge: select two or more identities (the first one keeps its name)")
            return
        service = self.service
        self._run(f"merge {len(ids)} identities", lambda: service.merge(ids[0], ids[1:]), True)

    def split(self) -> None:
        ids = self.selected_ids()
        chosen = [i.data(Qt.ItemDataRole.UserRole) for i in self.windows.selectedItems()]
        name = self._typed_name("Split")
        if len(ids) != 1 or not chosen:
            self.status.emit("Split: select one identity, then the windows that belong to someone else")
            return
        if name is None or self.service is None:
            return
        service = self.service
        self._run(f"split {len(chosen)} windows into {name}", lambda: service.split(ids[0], chosen, name), True)

    def toggle_watchlist(self) -> None:
        rows = self.selected_rows()
        if not rows or self.service is None:
            self.status.emit("Watchlist: select identities first")
            return
        on = not all(r.watchlist for r in rows)
        service = self.service
        self._run("watchlist " + ("on" if on else "off"), lambda: service.set_watchlist([r.id for r in rows], on),
                  True)

    def remove(self, forget: bool) -> None:
        rows = self.selected_rows()
        if not rows or self.service is None:
            self.status.emit("Select identities to delete or forget first")
            return
        names = ", ".join(r.name for r in rows)
        verb = "Forget (remove every trace of)" if forget else "Delete"
        if not self.confirm(self, f"{verb} {names}? This cannot be undone."):
            return
        service = self.service
        # Earlier undo steps may name what is about to go; they cannot be replayed after it, so they go too.
        self.undo_stack.clear()
        self._run(f"{'forget' if forget else 'delete'} {names}", lambda: service.delete([r.id for r in rows], forget))

    def not_this(self) -> None:
        picked = self.selection()
        if picked is None or picked.identity_id is None:
            self.status.emit("Not this person: select a named track in the Tracks panel first")
            return
        track_key, identity_id, lookup = picked.track_id, picked.identity_id, picked.db_id
        if self.service is None:
            return
        service = self.service

        def mark() -> int:
            track_db_id = lookup()
            if track_db_id is None:
                raise TrackNotStored(f"track #{track_key} is not in the database (it belongs to a run that ended); "
                                   "select a track of the current run")
            return service.not_this(identity_id, track_db_id)
        self._run(f"track #{track_key} is not this person", mark)

    def undo(self) -> None:
        if not self.undo_stack:
            self.status.emit("Nothing to undo")
            return
        step = self.undo_stack.pop()
        self._run(f"undo {step.label}", step.run)
