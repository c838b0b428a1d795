"""The operator's window: live view (a grid of them for several cameras) and replay bar on the left, tracks /
gallery / alerts / training on the right.

It wires signals only: the controller owns the pipeline, `Playback` steers it from the replay bar, `Explainer`
explains the selected track, the bridge brings the pipeline's events, the panels show plain state, and every
failure goes to the one `ErrorReporter`. Everything below app/ is reached through `app.desktop`. The config is
read-only: a change (Settings, "use this model") makes a new one and `apply_config` rebuilds what it affects.
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QStatusBar,
                               QTabWidget, QToolBar, QToolButton, QVBoxLayout, QWidget)

from app.config import SkelwatchConfig, save_user_config, with_changes
from app.desktop import Backend, camera_missing, installed_model_dir, open_backend, reencode_demo_gallery
from app.events import AlertEvent, Decision, MatchEvent, TrackState
from app.session import is_session
from app.session_cameras import is_multi_session
from ui.alerts_panel import AlertsPanel
from ui.bridge import PipelineBridge
from ui.camera_grid import CameraGrid
from ui.cameras_dialog import CamerasDialog
from ui.controller import OpenedSource, OpenFailed, PipelineController, sessions_dir
from ui.errors import ErrorReporter
from ui.explainer import Explainer
from ui.gallery_panel import GalleryPanel, SelectedTrack
from ui.live_view import LiveView
from ui.models import JourneyTableModel, TrackTableModel
from ui.playback import Playback
from ui.recording import RecordingWidget
from ui.settings_dialog import SettingsDialog
from ui.shortcuts import SHORTCUTS_HELP, install_shortcuts
from ui.state import Journeys, TrackBook
from ui.tasks import TaskRunner
from ui.timeline import ReplayBar
from ui.tracks_panel import TracksPanel
from ui.training_panel import TrainingPanel

logger = logging.getLogger(__name__)

# (label, spec or a file-dialog kind). Specs open directly; "?kind" asks for a path first.
SOURCES = (("Demo recording", "demo"), ("Synthetic scene", "synthetic"), ("RealSense camera", "realsense"),
           ("Recording file (.db3 / .bag)…", "?recording"), ("Video file…", "?video"),
           ("Skeleton dataset folder…", "?skeleton"), ("Recorded session folder…", "?session"),
           ("Several cameras…", "?cameras"))
RECENT_SESSIONS = 10  # recorded sessions offered in the source list
ALERT_LEAD_S = 1.0  # a jump to an alert shows this much before it


class MainWindow(QMainWindow):
    """The skelwatch window. `open_source(spec, ...)` opens a source, or several cameras; the rest is driven by
    the user."""

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
        self.backend: Backend | None = None
        self.book = TrackBook(config.ui.recent_tracks_s)
        self.track_model = TrackTableModel(self.book)
        self.journey_model = JourneyTableModel(Journeys())
        self.frames_shown = 0
        self._pending_spec: tuple[tuple[str, ...], bool] | None = None
        self._opening_specs: tuple[str, ...] = ()
        self._keep_marks = False
        self._build_widgets()
        self.playback = Playback(self.controller, self.replay, self.book, self._reopen_at, self._ended,
                                 self._looping, self)
        self.explainer = Explainer(self.tracks, self.book, lambda: self.config.ui.top_k,
                                   lambda what, exc: self.errors.report(what, exc, dialog=False), self)
        self._build_actions()
        self._connect()

    # --- construction ----------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.grid = CameraGrid(self._style_view)
        self.view = self.grid.primary  # the one camera's view (the first camera's of several)
        self.replay = ReplayBar()
        self.replay.set_speed(self.config.ui.replay_speed)
        self.replay.loop.setChecked(self.config.ui.loop_replay)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.grid, 1)
        ll.addWidget(self.replay)
        self.tracks = TracksPanel(self.track_model, self.journey_model)
        self.gallery = GalleryPanel(self.storage_tasks, self._selected_track)
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

    def _style_view(self, view: LiveView) -> None:
        """The display settings of the config, for every camera's view alike."""
        u = self.config.ui
        view.image_kind, view.depth_max_m, view.show_lost, view.show_skeletons = (u.image, u.depth_max_m,
                                                                                  u.show_lost, u.show_skeletons)
        view.privacy = self.config.storage.privacy_skeleton_only

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
        self.bridge.finished.connect(lambda summary: self.playback.finished(summary))
        self.controller.opened.connect(self._on_opened)
        self.controller.recording_changed.connect(self.recorder.set_recording)
        self.controller.recording_changed.connect(lambda folder: folder is None and self.list_sources())
        self.act_open.triggered.connect(self._open_picked)
        self.act_settings.triggered.connect(self.open_settings)
        self.image_toggle.toggled.connect(self._on_image_toggle)
        self.recorder.start_requested.connect(self.controller.start_recording)
        self.recorder.stop_requested.connect(self.controller.stop_recording)
        self.tracks.selected.connect(self._on_track_selected)
        self.gallery.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.alerts.jump_requested.connect(self._jump_to_alert)
        self.training.promoted.connect(self.use_model)

    def list_sources(self) -> None:
        """Fill the source list: the fixed entries, then the newest recorded sessions (to replay them)."""
        current = self.source_picker.currentData()
        self.source_picker.clear()
        for label, spec in SOURCES:
            self.source_picker.addItem(label, spec)
        root = sessions_dir(self.config)
        sessions = sorted((p for p in root.iterdir() if is_session(p) or is_multi_session(p)),
                          reverse=True)[:RECENT_SESSIONS] if root.is_dir() else []
        if sessions:
            self.source_picker.insertSeparator(self.source_picker.count())
        for folder in sessions:
            kind = " (several cameras)" if is_multi_session(folder) else ""
            self.source_picker.addItem(f"Session {folder.name}{kind}", str(folder))
        index = self.source_picker.findData(current)
        self.source_picker.setCurrentIndex(max(index, 0))

    def _show_in_picker(self, info: OpenedSource) -> None:
        """The Source box names what is playing: its entry, or one added at the top for a file opened by path."""
        index = self.source_picker.findData(info.spec)
        if index < 0:
            self.source_picker.insertItem(0, f"{Path(info.spec.removeprefix('video:')).name or info.name}", info.spec)
            index = 0
        self.source_picker.setCurrentIndex(index)

    def toolbar_button(self, text: str) -> QWidget:
        """The toolbar's button for the action named `text` (for keyboard-free use by scripts and tests)."""
        bar = self.findChild(QToolBar)
        action = next(a for a in bar.actions() if a.text() == text)
        return bar.widgetForAction(action)

    # --- start-up ----------------------------------------------------------------------------------------------
    def start(self, *specs: str) -> None:
        """Open the model and gallery, then `specs` if any (see `open_source`; names appear once the gallery is
        open)."""
        self.grid.set_message("Loading the model and the gallery…")
        self._pending_spec = (specs, False)
        self.storage_tasks.submit(lambda: open_backend(self.config), self._on_backend, "opening the gallery")

    def _on_backend(self, backend: Backend | None) -> None:
        if backend is not None:
            self.backend = backend
            self.controller.backend = self.explainer.backend = backend
            self.gallery.set_service(backend.service)
            self.model_label.setText(f"model {backend.model_version[:12]}")
        else:
            self.model_label.setText("no gallery: names are off")
        if self._pending_spec is not None:
            specs, paused = self._pending_spec
            self._pending_spec = None
            if specs:  # `start()` alone: the user picks a source
                self.open_source(*specs, paused=paused)

    def open_source(self, *specs: str, paused: bool = False, start_s: float | None = None) -> None:
        """Open one source spec, or several cameras as `[NAME=]SPEC` each (a grid of views, one encoder and
        gallery); with `start_s` (a seek in a recording that had ended) the alerts and markers stay."""
        if self.backend is None and self._pending_spec is not None:
            self._pending_spec = (specs, paused)  # the gallery is still opening; open right after
            return
        self._opening_specs = specs
        self._keep_marks = start_s is not None
        self.grid.clear()
        self.grid.set_message(f"Opening {' + '.join(specs)}…")
        self.track_model.clear()
        if not self._keep_marks:
            self.journey_model.clear()
            self.alerts.clear()
            self.tabs.setTabText(self.tabs.indexOf(self.alerts), "Alerts")
        self.controller.open(specs, paused=paused, start_s=start_s)

    def _open_picked(self) -> None:
        spec = self.source_picker.currentData()
        if spec == "?cameras":
            specs = self._ask_cameras()
            if specs:
                self.open_source(*specs)
            return
        if spec.startswith("?"):
            spec = self._ask_path(spec[1:])
            if not spec:
                return
        self.open_source(spec)

    def _ask_cameras(self) -> list[str]:
        """Several cameras, one `[NAME=]SPEC` a line (the last ones asked for, or the cameras playing, to edit)."""
        playing = self._opening_specs if len(self._opening_specs) > 1 else ()
        dialog = CamerasDialog(list(playing), self)
        return dialog.specs if dialog.exec() == CamerasDialog.DialogCode.Accepted else []

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
        self.grid.set_cameras(list(info.cameras))
        self.tracks.show_cameras(bool(info.cameras))
        if not info.cameras or info.session is not None:  # one source, or one (multi-camera) session folder
            self._show_in_picker(info)
        if not (self._keep_marks and self.replay.timeline.duration_s == info.duration_s):
            self.replay.set_seekable(not info.is_live, info.duration_s)
        self.replay.set_paused(self.controller.paused)
        self.recorder.setEnabled(True)  # several cameras record one multi-camera session
        self.grid.set_message(f"{info.name}: waiting for the first frame…")
        self.statusBar().showMessage(f"Opened {info.name}", 5000)
        if info.left_out:
            self.errors.show_text("; ".join(info.left_out), dialog=False)

    def _on_frame_ready(self) -> None:
        frames = self.bridge.take_frames()
        for frame in frames:
            self.frames_shown += 1
            self.track_model.apply_frame(frame)
            self.grid.show_frame(frame)
            self.replay.set_position(frame.timestamp_s)
            self.journey_model.note([self.book.records[v.track_id] for v in frame.tracks
                                     if v.identity.name and v.observed and v.track_id in self.book.records])
            for view in frame.tracks:
                if view.identity.id is not None and view.state is TrackState.CONFIRMED:
                    self.gallery.remember_pose(view.identity.id, view.joints_3d)
        if frames:
            self.explainer.maybe()

    def _on_match(self, event: MatchEvent) -> None:
        self.track_model.apply_match(event)
        if event.identity.decision is Decision.MATCH:
            self.replay.timeline.add_sighting(event.timestamp_s, event.track_id)

    def _on_alert(self, event: AlertEvent) -> None:
        self.alerts.add(event, self.grid.frame_with_track(event.track_id))
        self.tabs.setTabText(self.tabs.indexOf(self.alerts), f"Alerts ({self.alerts.model.rowCount()})")
        self.replay.timeline.add_alert(event.timestamp_s)
        self.statusBar().showMessage(f"ALERT: {event.rule}: {event.identity_name or 'unknown'} (track "
                                     f"#{event.track_id}) at {event.timestamp_s:.1f} s", 10000)

    def _on_pipeline_failed(self, stage: str, error: BaseException) -> None:
        camera = stage.removesuffix(" source")
        reason = self.controller.failed_cameras.get(camera)
        if reason is not None and self.grid.camera_stopped(camera, reason):  # the other cameras go on
            self.errors.show_text(reason, dialog=False)
            return
        self.errors.report(f"The {stage} stage stopped", error)
        self.grid.set_message(f"The {stage} stage stopped: {error}")

    def _ended(self, frames: int | None) -> None:
        self._refresh_gallery()
        counted = f"{frames} frames, " if frames is not None else ""
        self.statusBar().showMessage(f"End of the recording: {counted}{len(self.book.order)} tracks listed; "
                                     "seek on the timeline to replay", 10000)

    def _looping(self) -> None:
        self._refresh_gallery()
        self.statusBar().showMessage("End of the recording: starting again (Loop is on)", 5000)

    def _refresh_gallery(self) -> None:
        if self.gallery.service is not None:
            self.gallery.refresh()

    def _reopen_at(self, t_s: float, paused: bool) -> None:
        if self._opening_specs:
            self.open_source(*self._opening_specs, paused=paused, start_s=t_s)

    def _task_failed(self, what: str, error: BaseException) -> None:
        if isinstance(error, OpenFailed):
            self._open_failed(error)
            return
        self.errors.report(what, error)
        if what == "opening the gallery":
            self._on_backend(None)

    def _open_failed(self, failure: OpenFailed) -> None:
        self.replay.set_seekable(False, None)
        self.recorder.setEnabled(False)
        self.grid.set_cameras([])
        self.grid.clear()
        if camera_missing(failure.spec, failure.error):
            self.view.set_message("No RealSense camera found.\nConnect one, or pick a recording, a video or the "
                                  "synthetic scene in the Source list.")
            self.source_label.setText("no camera")
        else:
            self.view.set_message(f"Could not open the source:\n{failure.error}")
            self.source_label.setText("no source")
        self.errors.report(f"opening {failure.spec}", failure.error)

    # --- controls (the replay bar's, also used by shortcuts and tests) ------------------------------------------
    def toggle_play(self) -> None:
        self.playback.toggle_play()

    def seek(self, t_s: float, paused: bool | None = None) -> None:
        self.playback.seek(t_s, paused)

    def jump(self, delta_s: float) -> None:
        self.playback.jump(delta_s)

    def speed_step(self, direction: int) -> None:
        self.playback.speed_step(direction)

    def _on_image_toggle(self, depth: bool) -> None:
        kind = "depth" if depth else "color"
        if kind != self.config.ui.image:
            self.apply_config(with_changes(self.config, {"ui.image": kind}))

    def show_shortcuts(self) -> QMessageBox:
        """A non-modal list of the keyboard shortcuts (F1)."""
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", SHORTCUTS_HELP,
                          QMessageBox.StandardButton.Close, self)
        box.setModal(False)
        box.show()
        return box

    def open_settings(self) -> SettingsDialog:
        """Show the (non-modal) settings dialog; saved values apply at once."""
        dialog = SettingsDialog(self.config, self)
        dialog.saved.connect(self._settings_saved)
        dialog.show()
        return dialog

    def _settings_saved(self, config: SkelwatchConfig, path: Path) -> None:
        self.apply_config(config)
        self.statusBar().showMessage(f"Settings saved to {path}", 6000)

    def apply_config(self, config: SkelwatchConfig) -> None:
        """Run on a new config: the view, the book, the controller and the backend take what changed.

        A new model is not among them: `use_model` reopens the backend for that.
        """
        self.config = config
        u = config.ui
        for view in self.grid.views:
            self._style_view(view)
        self.alerts.privacy = config.storage.privacy_skeleton_only
        self.image_toggle.setChecked(u.image == "depth")
        self.replay.loop.setChecked(u.loop_replay)
        self.book.keep_recent_s = u.recent_tracks_s
        self.controller.config = config
        self.training.config = config
        if self.backend is not None:
            self.backend.apply(config)
        for view in self.grid.views:
            if view.frame is not None:
                view.show_frame(view.frame)

    def _jump_to_alert(self, event: AlertEvent) -> None:
        if not self.controller.replayed:
            self.statusBar().showMessage("Jumping needs a recording: open the recorded session to replay it", 8000)
            return
        self.seek(max(event.timestamp_s - ALERT_LEAD_S, 0.0), paused=True)

    # --- selected track: explanation and enrolment -----------------------------------------------------------------
    def _selected_track(self) -> SelectedTrack | None:
        track_id = self.tracks.selected_track()
        backend = self.backend
        if track_id is None or backend is None or track_id not in self.book.records:
            return None
        record = self.book.records[track_id]
        history = list(record.joints)
        return SelectedTrack(track_id, record.identity.id, lambda: backend.track_windows(history),
                             lambda: backend.track_db_id(track_id))

    def _on_track_selected(self, track_id: int | None) -> None:
        for view in self.grid.views:
            view.selected_track = track_id
            view.update()
        self.explainer.now()

    def use_model(self, run_dir: Path) -> None:
        """Install a trained run's model: persist the choice, re-encode the demo people for it, reopen on it."""
        config = with_changes(self.config, {"pipeline.model_dir": str(installed_model_dir(run_dir))})
        path = save_user_config(config)
        self.apply_config(config)
        self.training.show_installed(config.pipeline.model_dir, path)
        specs = self._opening_specs or ("demo",)
        self.controller.close()
        old = self.backend
        if old is not None:  # after the pipeline using it has stopped: the controller's tasks run in order
            self.controller.tasks.submit(old.close, None, "closing the previous gallery")
        self.backend = self.controller.backend = self.explainer.backend = None
        self.storage_tasks.submit(lambda: reencode_demo_gallery(config),
                                  lambda status: status and self.statusBar().showMessage(status, 10000),
                                  "re-encoding the demo gallery for the new model")
        self.start(*specs)

    # --- shutdown --------------------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        self.controller.shutdown()
        self.storage_tasks.shutdown()
        self.explainer.shutdown()
        if self.backend is not None:
            self.backend.close()
        super().closeEvent(event)
