"""The operator's window: live view and replay bar on the left, tracks / gallery / alerts / training on the right.

It wires signals only: the controller owns the pipeline, the bridge brings its events, the panels show plain state,
and every failure goes to the one `ErrorReporter`.
"""
from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QStatusBar,
                               QTabWidget, QToolBar, QToolButton, QVBoxLayout, QWidget)

from app.config import SkelwatchConfig
from app.demo import build_demo_gallery, demo_recording_path
from capture.sources.recording_meta import sidecar_path
from app.events import AlertEvent, MatchEvent
from app.pipeline.build import match_thresholds
from app.pipeline.runner import PipelineSummary
from app.session import is_session
from capture.sources import SourceError
from ui.alerts_panel import AlertsPanel
from ui.backend import Backend, open_backend
from ui.bridge import PipelineBridge
from ui.controller import OpenedSource, PipelineController, sessions_dir
from ui.errors import ErrorReporter
from ui.explain import cut_windows, explain_track
from ui.gallery_panel import GalleryPanel
from ui.live_view import LiveView
from ui.models import TrackTableModel
from ui.recording import RecordingWidget
from ui.settings_dialog import SettingsDialog
from ui.shortcuts import SHORTCUTS_HELP, install_shortcuts
from ui.state import TrackBook
from ui.tasks import TaskRunner
from ui.timeline import ReplayBar
from ui.tracks_panel import TracksPanel
from ui.training_panel import TrainingPanel

logger = logging.getLogger(__name__)

# (label, spec or a file-dialog kind). Specs open directly; "?kind" asks for a path first.
SOURCES = (("Demo recording", "demo"), ("Synthetic scene", "synthetic"), ("RealSense camera", "realsense"),
           ("Recording file (.db3 / .bag)…", "?recording"), ("Video file…", "?video"),
           ("Skeleton dataset folder…", "?skeleton"), ("Recorded session folder…", "?session"))
EXPLAIN_EVERY_S = 1.0
RECENT_SESSIONS = 10  # recorded sessions offered in the source list
ALERT_LEAD_S = 1.0  # a jump to an alert shows this much before it



class MainWindow(QMainWindow):
    """The skelwatch window. `open_source(spec)` opens a source; the rest is driven by the user."""

    def __init__(self, config: SkelwatchConfig) -> None:
        super().__init__()
        self.config = config
        self.setWindowTitle("skelwatch — skeleton re-identification")
        self.resize(1500, 900)
        self.setStatusBar(QStatusBar())
        self.errors = ErrorReporter(self, self.statusBar())
        self.bridge = PipelineBridge(self)
        self.controller = PipelineController(config, bridge=self.bridge, on_error=self._task_failed, parent=self)
        self.storage_tasks = TaskRunner(self._task_failed, self)
        self.explain_tasks = TaskRunner(lambda what, exc: self.errors.report(what, exc, dialog=False), self)
        self.backend: Backend | None = None
        self.book = TrackBook(config.ui.recent_tracks_s)
        self.track_model = TrackTableModel(self.book)
        self.frames_shown = 0
        self._last_explain = 0.0
        self._pending_spec: tuple[str, bool] | None = None
        self._build_widgets()
        self._build_actions()
        self._connect()
        self._end_timer = QTimer(self, interval=250)  # a replay holding at its end sends no event: look
        self._end_timer.timeout.connect(self._check_end)
        self._end_timer.start()
        self._at_end = False

    # --- construction ----------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.view = LiveView()
        self.view.image_kind = self.config.ui.image
        self.view.privacy = self.config.storage.privacy_skeleton_only
        self.view.depth_max_m = self.config.ui.depth_max_m
        self.view.show_skeletons = self.config.ui.show_skeletons
        self.view.show_lost = self.config.ui.show_lost
        self.replay = ReplayBar()
        self.replay.set_speed(self.config.ui.replay_speed)
        self.replay.loop.setChecked(self.config.ui.loop_replay)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.view, 1)
        ll.addWidget(self.replay)
        self.tracks = TracksPanel(self.track_model)
        self.gallery = GalleryPanel(self.storage_tasks)
        self.gallery.track_windows = self._selected_track_windows
        self.gallery.track_naming = self._selected_track_naming
        self.alerts = AlertsPanel()
        self.alerts.privacy = self.config.storage.privacy_skeleton_only
        self.training = TrainingPanel(self.config, self.errors)
        self.tabs = QTabWidget()
        for widget, title in ((self.tracks, "Tracks"), (self.gallery, "Gallery"), (self.alerts, "Alerts"),
                              (self.training, "Training")):
            self.tabs.addTab(widget, title)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setSizes([900, 600])
        self.setCentralWidget(split)
        self.source_picker = QComboBox()
        self.source_picker.setMinimumWidth(230)
        self.list_sources()
        self.image_toggle = QToolButton(text="Depth", checkable=True, toolTip="Show the depth image (D)")
        self.image_toggle.setChecked(self.config.ui.image == "depth")
        self.recorder = RecordingWidget()
        self.source_label = QLabel("no source")
        self.model_label = QLabel("")
        for label in (self.source_label, self.model_label):
            self.statusBar().addPermanentWidget(label)

    def _build_actions(self) -> None:
        bar = QToolBar("Main")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addWidget(QLabel(" Source "))
        bar.addWidget(self.source_picker)
        self.act_open = QAction("Open", self, shortcut=QKeySequence("Ctrl+O"), toolTip="Open the chosen source")
        bar.addAction(self.act_open)
        bar.addSeparator()
        bar.addWidget(self.image_toggle)
        bar.addSeparator()
        bar.addWidget(self.recorder)
        bar.addSeparator()
        self.act_settings = QAction("Settings", self, shortcut=QKeySequence("Ctrl+,"), toolTip="Settings (Ctrl+,)")
        bar.addAction(self.act_settings)
        self.shortcut_actions = install_shortcuts(self)

    def _connect(self) -> None:
        self.bridge.frame_ready.connect(self._on_frame_ready)
        self.bridge.match.connect(self._on_match)
        self.bridge.alert.connect(self._on_alert)
        self.bridge.failed.connect(self._on_pipeline_failed)
        self.bridge.finished.connect(self._on_finished)
        self.controller.opened.connect(self._on_opened)
        self.controller.recording_changed.connect(self.recorder.set_recording)
        self.controller.recording_changed.connect(lambda folder: folder is None and self.list_sources())
        self.act_open.triggered.connect(self._open_picked)
        self.act_settings.triggered.connect(self.open_settings)
        self.image_toggle.toggled.connect(self._on_image_toggle)
        self.replay.play_toggled.connect(self.toggle_play)
        self.replay.step_requested.connect(lambda: self.controller.step())
        self.replay.speed_changed.connect(self.controller.set_speed)
        self.replay.timeline.seek_requested.connect(self.seek)
        self.recorder.start_requested.connect(self.controller.start_recording)
        self.recorder.stop_requested.connect(self.controller.stop_recording)
        self.tracks.selected.connect(self._on_track_selected)
        self.gallery.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.alerts.jump_requested.connect(self._jump_to_alert)
        self.training.promoted.connect(self._on_model_promoted)

    def list_sources(self) -> None:
        """Fill the source list: the fixed entries, then the newest recorded sessions (to replay them)."""
        current = self.source_picker.currentData()
        self.source_picker.clear()
        for label, spec in SOURCES:
            self.source_picker.addItem(label, spec)
        root = sessions_dir(self.config)
        sessions = sorted((p for p in root.iterdir() if is_session(p)), reverse=True)[:RECENT_SESSIONS] \
            if root.is_dir() else []
        if sessions:
            self.source_picker.insertSeparator(self.source_picker.count())
        for folder in sessions:
            self.source_picker.addItem(f"Session {folder.name}", str(folder))
        index = self.source_picker.findData(current)
        self.source_picker.setCurrentIndex(max(index, 0))

    def toolbar_button(self, text: str) -> QWidget:
        """The toolbar's button for the action named `text` (for keyboard-free use by scripts and tests)."""
        bar = self.findChild(QToolBar)
        action = next(a for a in bar.actions() if a.text() == text)
        return bar.widgetForAction(action)

    # --- start-up ----------------------------------------------------------------------------------------------
    def start(self, spec: str) -> None:
        """Open the model and gallery, then `spec` (names appear once the gallery is open)."""
        self.view.set_message("Loading the model and the gallery…")
        self._pending_spec = (spec, False)
        self.storage_tasks.submit(lambda: open_backend(self.config), self._on_backend, "opening the gallery")

    def _on_backend(self, backend: Backend | None) -> None:
        if backend is not None:
            self.backend = backend
            self.controller.backend = backend
            self.gallery.set_service(backend.service)
            self.model_label.setText(f"model {backend.model_version[:12]}")
        else:
            self.model_label.setText("no gallery: names are off")
        if self._pending_spec is not None:
            spec, paused = self._pending_spec
            self._pending_spec = None
            self.open_source(spec, paused=paused)

    _opening_spec: str | None = None
    _keep_marks = False

    def open_source(self, spec: str, paused: bool = False, start_s: float | None = None) -> None:
        """Open `spec`; with `start_s` (a seek in a recording that had ended) the alerts and markers stay."""
        if self.backend is None and self._pending_spec is not None:
            self._pending_spec = (spec, paused)  # the gallery is still opening; open right after
            return
        self._opening_spec = spec
        self._keep_marks = start_s is not None
        self.view.set_message(f"Opening {spec}…")
        self.view.clear()
        self.track_model.clear()
        if not self._keep_marks:
            self.alerts.clear()
            self.tabs.setTabText(self.tabs.indexOf(self.alerts), "Alerts")
        self.controller.open(spec, paused=paused, start_s=start_s)

    def _open_picked(self) -> None:
        spec = self.source_picker.currentData()
        if spec.startswith("?"):
            spec = self._ask_path(spec[1:])
            if not spec:
                return
        self.open_source(spec)

    def _ask_path(self, kind: str) -> str:
        if kind in ("skeleton", "session"):
            return QFileDialog.getExistingDirectory(self, f"Open a {kind} folder") or ""
        filters = {"recording": "RealSense recordings (*.db3 *.bag)", "video": "Videos (*.avi *.mp4 *.mov *.mkv)"}
        path, _ = QFileDialog.getOpenFileName(self, f"Open a {kind}", "", filters[kind])
        return f"video:{path}" if path and kind == "video" else path

    # --- pipeline events ---------------------------------------------------------------------------------------
    def _on_opened(self, info: OpenedSource) -> None:
        # Everything loaded so far (Qt, torch, the model, SQLAlchemy, the source) lives as long as the window:
        # out of the collector's sight, a full collection no longer walks it (measured: 340 ms stalls before).
        gc.freeze()
        self.source_label.setText(f"{'● live' if info.is_live else 'replay'}: {info.name}")
        if not (self._keep_marks and self.replay.timeline.duration_s == info.duration_s):
            self.replay.set_seekable(not info.is_live, info.duration_s)
        self.replay.set_paused(self.controller.paused)
        self.recorder.setEnabled(True)
        self.view.set_message(f"{info.name}: waiting for the first frame…")
        self.statusBar().showMessage(f"Opened {info.name}", 5000)

    def _on_frame_ready(self) -> None:
        frame = self.bridge.take_frame()
        if frame is None:
            return
        self.frames_shown += 1
        self.track_model.apply_frame(frame)
        self.view.show_frame(frame)
        self.replay.set_position(frame.timestamp_s)
        for view in frame.tracks:
            if view.identity_id is not None and view.state == "confirmed":
                self.gallery.poses[view.identity_id] = view.joints_3d
        self._maybe_explain()

    def _on_match(self, event: MatchEvent) -> None:
        self.track_model.apply_match(event)
        if event.decision == "match":
            self.replay.timeline.add_sighting(event.timestamp_s, event.track_id)

    def _on_alert(self, event: AlertEvent) -> None:
        self.alerts.add(event, self.view.frame)
        self.tabs.setTabText(self.tabs.indexOf(self.alerts), f"Alerts ({self.alerts.model.rowCount()})")
        self.replay.timeline.add_alert(event.timestamp_s)
        self.statusBar().showMessage(f"ALERT: {event.rule}: {event.identity_name or 'unknown'} (track "
                                     f"#{event.track_id}) at {event.timestamp_s:.1f} s", 10000)

    def _on_pipeline_failed(self, stage: str, error: BaseException) -> None:
        self.errors.report(f"The {stage} stage stopped", error)
        self.view.set_message(f"The {stage} stage stopped: {error}")

    def _on_finished(self, summary: PipelineSummary) -> None:
        if summary.completed:  # a live source that ended, or a replay built without holding at its end
            self._reached_end(summary.frames)

    def _check_end(self) -> None:
        at_end = self.controller.at_end
        if at_end and not self._at_end:
            self._reached_end(None)
        self._at_end = at_end

    def _reached_end(self, frames: int | None) -> None:
        if self.gallery.service is not None:
            self.gallery.refresh()
        if self.replay.loop.isChecked() and self.controller.seekable:
            self.statusBar().showMessage("End of the recording: starting again (Loop is on)", 5000)
            self.seek(0.0, paused=False)
            return
        counted = f"{frames} frames, " if frames is not None else ""
        self.statusBar().showMessage(f"End of the recording: {counted}{len(self.book.order)} tracks listed; "
                                     "seek on the timeline to replay", 10000)
        self.replay.set_paused(True)

    def _task_failed(self, what: str, error: BaseException) -> None:
        if what.startswith("opening") and what != "opening the gallery":
            self.replay.set_seekable(False, None)
            self.recorder.setEnabled(False)
            self.source_label.setText("no source")
        if isinstance(error, SourceError) and what.startswith("opening realsense"):
            self.view.clear()
            self.view.set_message("No RealSense camera found.\nConnect one, or pick a recording, a video or the "
                                  "synthetic scene in the Source list.")
            self.source_label.setText("no camera")
        elif what.startswith("opening"):
            self.view.clear()
            self.view.set_message(f"Could not open the source:\n{error}")
        self.errors.report(what, error)
        if what == "opening the gallery":
            self._on_backend(None)

    # --- controls --------------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()
        self.replay.set_paused(self.controller.paused)

    def seek(self, t_s: float, paused: bool | None = None) -> None:
        """Go to media time `t_s` of the recording; one that already ended is opened again there."""
        if not self.controller.seekable:
            return
        paused = (self.controller.paused and not self.controller.at_end) if paused is None else paused
        if self.controller.finished and self._opening_spec is not None:
            self.open_source(self._opening_spec, paused=paused, start_s=t_s)
            self.replay.set_paused(paused)
            return
        self.controller.seek(t_s)
        if paused:
            self.controller.pause()
            self.controller.step(1)
        else:
            self.controller.resume()
        self.replay.set_paused(paused)

    def jump(self, delta_s: float) -> None:
        if self.book.last_s is not None:
            self.seek(max(self.book.last_s + delta_s, 0.0))

    def speed_step(self, direction: int) -> None:
        combo = self.replay.speed
        combo.setCurrentIndex(min(max(combo.currentIndex() + direction, 0), combo.count() - 1))

    def _on_image_toggle(self, depth: bool) -> None:
        self.view.image_kind = "depth" if depth else "color"
        self.config.ui.image = self.view.image_kind
        if self.view.frame is not None:
            self.view.show_frame(self.view.frame)

    def show_shortcuts(self) -> QMessageBox:
        """A non-modal list of the keyboard shortcuts (F1)."""
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", SHORTCUTS_HELP,
                          QMessageBox.StandardButton.Close, self)
        box.setModal(False)
        box.show()
        return box

    def open_settings(self) -> SettingsDialog:
        """Show the (non-modal) settings dialog; saved values apply to the view at once."""
        dialog = SettingsDialog(self.config, self)
        dialog.saved.connect(self._apply_settings)
        dialog.show()
        return dialog

    def _apply_settings(self, path: Path) -> None:
        u = self.config.ui
        self.view.depth_max_m, self.view.show_lost = u.depth_max_m, u.show_lost
        self.view.privacy = self.alerts.privacy = self.config.storage.privacy_skeleton_only
        self.image_toggle.setChecked(u.image == "depth")
        self.replay.loop.setChecked(u.loop_replay)
        self.book.keep_recent_s = u.recent_tracks_s
        if self.backend is not None:
            self.backend.gallery.thresholds = match_thresholds(self.config)
        self.statusBar().showMessage(f"Settings saved to {path}", 6000)

    def _jump_to_alert(self, event: AlertEvent) -> None:
        if not self.controller.seekable:
            self.statusBar().showMessage("Jumping needs a recording: open the recorded session to replay it", 8000)
            return
        self.seek(max(event.timestamp_s - ALERT_LEAD_S, 0.0), paused=True)

    # --- selected track: explanation and enrolment -----------------------------------------------------------------
    def _selected_track_windows(self) -> tuple[int, object] | None:
        track_id = self.tracks.selected_track()
        if track_id is None or self.backend is None or track_id not in self.book.records:
            return None
        windows, _ = cut_windows(self.book.records[track_id].joints, self.backend.frames)
        return track_id, windows

    def _selected_track_naming(self) -> tuple[int, int | None, Callable[[], int | None]] | None:
        track_id = self.tracks.selected_track()
        if track_id is None or track_id not in self.book.records or self.backend is None:
            return None
        backend = self.backend
        return track_id, self.book.records[track_id].identity_id, lambda: backend.track_db_id(track_id)

    def _on_track_selected(self, track_id: int | None) -> None:
        self.view.selected_track = track_id
        self.view.update()
        self._last_explain = 0.0
        self._maybe_explain()

    def _maybe_explain(self) -> None:
        track_id = self.tracks.selected_track()
        now = time.monotonic()
        if (track_id is None or self.backend is None or self.explain_tasks.pending
                or now - self._last_explain < EXPLAIN_EVERY_S or track_id not in self.book.records):
            return
        self._last_explain = now
        backend, history, k = self.backend, list(self.book.records[track_id].joints), self.config.ui.top_k
        self.explain_tasks.submit(
            lambda: explain_track(track_id, history, backend.frames, backend.encode, backend.gallery, k),
            self.tracks.show_explanation, f"explaining track #{track_id}")

    def _on_model_promoted(self, model_dir: Path) -> None:
        """A new model was installed: re-encode the demo people for it and reopen everything on it.

        Identities enrolled from live tracks keep only their old-model windows (shown as stale in the gallery):
        storage keeps embeddings, not the skeletons they came from, so they need enrolling again.
        """
        self.config.pipeline.model_dir = str(model_dir)
        spec = self._opening_spec or "demo"
        self.controller.close()
        self.backend = self.controller.backend = None
        config = self.config
        if sidecar_path(demo_recording_path()).is_file():
            self.storage_tasks.submit(lambda: build_demo_gallery(config),
                                      lambda status: self.statusBar().showMessage(status, 10000),
                                      "re-encoding the demo gallery for the new model")
        self.start(spec)

    # --- shutdown --------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        self.controller.shutdown()
        self.storage_tasks.shutdown()
        self.explain_tasks.shutdown()
        if self.backend is not None:
            self.backend.close()
        super().closeEvent(event)
