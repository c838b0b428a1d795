"""GUI test fixtures: a real window over a real temporary SQLite gallery and a short synthetic recording.

The recording (2 walkers, 6 s, 320x240, through the RealSense SDK recorder with its truth sidecar) and a gallery
with both walkers enrolled from their first visit (`app.demo.enrol_walkers`) are made once per session; each test
gets its own copy of the database and its own SKELWATCH_HOME, so tests never see each other's edits.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.config import SkelwatchConfig, load_config

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
NAMED_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def recorded_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(recording .db3, gallery database with its walkers enrolled)."""
    from app.demo import enrol_walkers
    from capture.sources.recording_meta import read_sidecar, sidecar_path
    from capture.sources.synthetic import SyntheticScene, record_scene

    root = tmp_path_factory.mktemp("ui-scene")
    recording = root / "scene.db3"
    record_scene(SyntheticScene(n_people=2, seconds=6.0, fps=15.0, width=320, height=240), recording)
    config = load_config(None, [f"storage.url={root / 'gallery.db'}"])
    meta = read_sidecar(sidecar_path(recording))
    status = enrol_walkers(config, [meta.truth], meta.fps, "the recording's first visits")
    assert "2 enrolled" in status, status
    return recording, root / "gallery.db"


@pytest.fixture
def config(recorded_scene: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SkelwatchConfig:
    """A config on a private copy of the gallery, with a private home (sessions, runs, config file)."""
    _, db = recorded_scene
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SKELWATCH_HOME", str(home))
    copy = tmp_path / "gallery.db"
    shutil.copy(db, copy)
    for suffix in ("-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
    return load_config(None, [f"storage.url={copy}", "ui.loop_replay=false"])


@pytest.fixture
def window(qtbot, qapp, config: SkelwatchConfig, recorded_scene: tuple[Path, Path]):
    """The main window, shown and opened on the recording; closed (pipeline stopped) after the test."""
    from ui.main_window import MainWindow
    from ui.style import STYLE

    qapp.setStyleSheet(STYLE)
    win = MainWindow(config)
    qtbot.addWidget(win)
    win.resize(1400, 860)
    win.show()
    win.start(str(recorded_scene[0]))
    yield win
    win.close()


def wait_for_named_track(qtbot, win) -> int:
    """Wait until a track carries a name; returns its id."""
    def named() -> bool:
        return any(r.identity.name for r in win.book.records.values())
    qtbot.waitUntil(named, timeout=NAMED_TIMEOUT_MS)
    return next(t for t, r in win.book.records.items() if r.identity.name)


def screenshot(win, name: str) -> Path:
    """Save what the window shows under test-output/screenshots/ (gitignored) for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert win.grab().save(str(path)), f"could not write {path}"
    return path
