"""Offline training: pick recorded sessions, train Hi-MPC without labels in a separate process, watch it, use it.

Training runs as `python main.py train --data ... --run NAME --progress-json` in a `QProcess`, so the GUI never
shares a core-hungry interpreter with it and a crash of the run cannot take the window down. Each JSON line on
its stdout (one per epoch) updates the progress bar and the curves. When the run ends, `evaluate` runs on
labelled data (default: the synthetic walkers) to show the trained model next to the random-init baseline
("before" and "after"). "Use this model" sets it as the pipeline's model, saves the setting, re-encodes the
demo gallery for it and asks the window to reopen on it.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from app.config import SkelwatchConfig, home_dir
from app.session import is_session
from ui.controller import sessions_dir
from ui.errors import ErrorReporter

logger = logging.getLogger(__name__)

MAIN_PY = Path(__file__).resolve().parents[1] / "main.py"


def runs_dir() -> Path:
    return home_dir() / "runs"


def parse_progress(line: str) -> dict | None:
    """One `--progress-json` line as a dict, or None for any other output line."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        stats = json.loads(text)
    except json.JSONDecodeError:
        return None
    return stats if isinstance(stats, dict) and "epoch" in stats else None


class TrainingPanel(QWidget):
    """Sessions list, run settings, progress, curves, evaluation and promotion. `promoted(run folder)`."""

    promoted = Signal(object)

    def __init__(self, config: SkelwatchConfig, errors: ErrorReporter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config, self.errors = config, errors
        self.sessions = QListWidget()
        self.run_name = QLineEdit(datetime.now().strftime("gui-%Y%m%d-%H%M%S"))
        self.epochs = QSpinBox(minimum=1, maximum=1000, value=config.train.epochs)
        self.batch = QSpinBox(minimum=2, maximum=65536, value=config.train.batch_size)
        self.batch.setToolTip("Windows per batch; a short recording needs a small batch")
        self.eval_data = QLineEdit("synthetic")
        self.eval_data.setToolTip("Labelled data for the before/after evaluation (a dataset folder or 'synthetic'); "
                                  "empty: no evaluation")
        self.start = QPushButton("Start training")
        self.stop = QPushButton("Stop")
        self.use = QPushButton("Use this model")
        self.rescan = QPushButton("Rescan sessions")
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.status = QLabel("Choose sessions (or the synthetic walkers) and start.")
        self.status.setWordWrap(True)
        self.curves = pg.PlotWidget(background="#1b1e22")
        self.curves.setTitle("Loss and label-free score per epoch", color="#c8ced4", size="9pt")
        self.curves.addLegend(offset=(10, 5))
        self.curves.showGrid(x=True, y=True, alpha=0.2)
        self.curves.setLabel("bottom", "epoch", color="#9aa4ae")
        self.loss_line = self.curves.plot([], [], pen=pg.mkPen("#4fc3f7", width=2), name="loss", symbol="o", symbolSize=4)
        self.score_line = self.curves.plot([], [], pen=pg.mkPen("#ffb74d", width=2), name="score", symbol="o", symbolSize=4)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(500)
        self.log.setPlaceholderText("Training and evaluation output")
        form = QFormLayout()
        form.addRow("Run name", self.run_name)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch)
        form.addRow("Evaluate on", self.eval_data)
        buttons = QHBoxLayout()
        for b in (self.start, self.stop, self.use, self.rescan):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("Training data (recorded sessions)"))
        layout.addWidget(self.sessions, 1)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.curves, 2)
        layout.addWidget(self.log, 1)
        self.history: list[dict] = []
        self.run_dir: Path | None = None
        self.process: QProcess | None = None
        self._stage = ""
        self._stderr_tail: list[str] = []
        self.start.clicked.connect(self.start_training)
        self.stop.clicked.connect(self.stop_training)
        self.use.clicked.connect(self.use_model)
        self.rescan.clicked.connect(self.scan_sessions)
        self.stop.setEnabled(False)
        self.use.setEnabled(False)
        self.scan_sessions()

    # --- data ------------------------------------------------------------------------------------------------
    def scan_sessions(self) -> None:
        self.sessions.clear()
        item = QListWidgetItem("synthetic walkers (generated, labelled)")
        item.setData(Qt.ItemDataRole.UserRole, "synthetic")
        item.setCheckState(Qt.CheckState.Unchecked)
        self.sessions.addItem(item)
        root = sessions_dir(self.config)
        for folder in sorted(root.iterdir() if root.is_dir() else [], reverse=True):
            if is_session(folder):
                item = QListWidgetItem(folder.name)
                item.setData(Qt.ItemDataRole.UserRole, str(folder))
                item.setCheckState(Qt.CheckState.Checked)
                self.sessions.addItem(item)
        if self.sessions.count() == 1:
            self.sessions.item(0).setCheckState(Qt.CheckState.Checked)

    def chosen_data(self) -> list[str]:
        return [self.sessions.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.sessions.count())
                if self.sessions.item(i).checkState() == Qt.CheckState.Checked]

    # --- the training process ---------------------------------------------------------------------------------
    def _launch(self, stage: str, args: list[str]) -> None:
        self._stage = stage
        self._stderr_tail = []
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(MAIN_PY.parent))
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._process_error)
        self.log.appendPlainText(f"$ {' '.join(['python', MAIN_PY.name, *args])}")
        self.process.start(sys.executable, [str(MAIN_PY), *args])

    def start_training(self) -> None:
        data = self.chosen_data()
        name = self.run_name.text().strip()
        if not data or not name:
            self.status.setText("Tick at least one session (or the synthetic walkers) and give the run a name.")
            return
        self.run_dir = runs_dir() / name
        if self.run_dir.exists():
            self.status.setText(f"A run named {name} exists already ({self.run_dir}); choose another name.")
            return
        self.history.clear()
        self._redraw()
        self.progress.setRange(0, self.epochs.value())
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.start.setEnabled(False)
        self.stop.setEnabled(True)
        self.use.setEnabled(False)
        self.status.setText(f"Training {name} on {len(data)} input(s) in a background process…")
        self._launch("train", ["--set", f"train.epochs={self.epochs.value()}", "--set",
                               f"train.batch_size={self.batch.value()}", "train", "--data", *data,
                               "--run", name, "--runs-dir", str(runs_dir()), "--progress-json"])

    def stop_training(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.status.setText("Stopping the training process (the checkpoints written so far are kept)…")
            self.process.terminate()

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        for raw in bytes(self.process.readAllStandardOutput()).decode(errors="replace").splitlines():
            stats = parse_progress(raw) if self._stage == "train" else None
            if stats is None:
                self.log.appendPlainText(raw)
                continue
            self.history.append(stats)
            self._show_epoch(stats)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        lines = bytes(self.process.readAllStandardError()).decode(errors="replace").splitlines()
        self._stderr_tail = (self._stderr_tail + lines)[-8:]
        for line in lines:
            if "WARNING" in line or "ERROR" in line or line.startswith("error"):
                self.log.appendPlainText(line)

    def _show_epoch(self, s: dict) -> None:
        clusters = s.get("clusters", {})
        clusters_text = "/".join(str(v) for v in clusters.values()) if isinstance(clusters, dict) else str(clusters)
        self.progress.setValue(int(s["epoch"]))
        self.progress.setFormat(f"epoch {s['epoch']} / {self.progress.maximum()}")
        self.status.setText(f"epoch {s['epoch']}: clusters {clusters_text}, kept {s.get('kept')}, outliers "
                            f"{s.get('outliers')}, loss {float(s.get('loss', float('nan'))):.4f}, score "
                            f"{float(s.get('score', float('nan'))):.3f}{'  (best so far)' if s.get('best') else ''}"
                            f", {float(s.get('seconds', 0)):.1f} s")
        self._redraw()

    def _redraw(self) -> None:
        epochs = [float(s["epoch"]) for s in self.history]
        self.loss_line.setData(epochs, [float(s.get("loss", float("nan"))) for s in self.history])
        self.score_line.setData(epochs, [float(s.get("score", float("nan"))) for s in self.history])

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.errors.show_text(f"The {self._stage} process could not start ({sys.executable}); check the "
                                  "Python environment (bash scripts/setup.sh)")
            self._reset_buttons()

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        stage = self._stage
        self._reset_buttons()
        if code != 0 or status != QProcess.ExitStatus.NormalExit:
            tail = "\n".join(self._stderr_tail[-4:])
            self.progress.setFormat(f"{stage} failed")
            self.status.setText(f"The {stage} run failed (exit code {code}): see the output below. The current "
                                "model stays in use.")
            self.errors.show_text(f"The {stage} run stopped (exit code {code}); nothing was promoted and the "
                                  f"current model stays in use. Last output:\n{tail}")
            return
        if stage == "train" and self.run_dir is not None:
            self.progress.setFormat(f"done: {len(self.history)} epochs")
            labelled = self.eval_data.text().strip()
            if not labelled:
                self.status.setText(f"Trained {len(self.history)} epochs into {self.run_dir} (no evaluation asked). "
                                    "Use this model to switch the pipeline to it.")
                self.use.setEnabled(True)
                return
            self.status.setText(f"Trained {len(self.history)} epochs into {self.run_dir}. Evaluating before/after "
                                f"on {labelled}…")
            self._launch("evaluate", ["evaluate", "--checkpoint", str(self.run_dir), "--data", labelled])
            self.start.setEnabled(False)
        elif stage == "evaluate":
            self.status.setText(f"Evaluation done (random-init and baselines are 'before', the run is 'after'). "
                                f"Use this model to switch the pipeline to {self.run_dir}.")
            self.use.setEnabled(True)

    def _reset_buttons(self) -> None:
        self.start.setEnabled(True)
        self.stop.setEnabled(False)

    def use_model(self) -> None:
        """Ask the window to install the finished run's model (it persists the choice and reopens on it)."""
        if self.run_dir is None:
            return
        self.use.setEnabled(False)
        self.promoted.emit(self.run_dir)

    def show_installed(self, model_dir: str, saved_in: Path) -> None:
        self.status.setText(f"Now using {model_dir} (saved in {saved_in}); re-encoding the gallery…")
