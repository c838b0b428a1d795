"""Start the GUI: check for a display, make the QApplication and the window, optionally screenshot and exit."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from app.config import SkelwatchConfig

logger = logging.getLogger(__name__)

OFFSCREEN_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")
HEADLESS_HELP = (
    "no display found (DISPLAY and WAYLAND_DISPLAY are unset and QT_QPA_PLATFORM is not an offscreen platform).\n"
    "To check the window without a display:\n"
    "    QT_QPA_PLATFORM=offscreen ./skelwatch --screenshot window.png --exit-after 8\n"
    "To work without a window, use the headless commands:\n"
    "    ./skelwatch run --source demo        # live pipeline, progress on the terminal\n"
    "    ./skelwatch replay SESSION_OR_FILE   # replay a recording or session")


def has_display(env: dict[str, str] | None = None) -> bool:
    """Whether Qt can show a window: a display server, or a platform plugin that needs none."""
    env = dict(os.environ if env is None else env)
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform:
        return platform in OFFSCREEN_PLATFORMS or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) \
            or platform in ("windows", "cocoa")
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


GUI_SWITCH_INTERVAL_S = 0.001


def favour_gui_thread() -> None:
    """Let the GUI thread take the GIL sooner while pipeline threads run Python code.

    CPython hands the GIL over every `sys.getswitchinterval()` (5 ms by default); with four busy pipeline
    workers the event loop could wait several such slices per event, which showed as 100+ ms stalls in
    bench/ui_latency.py. A 1 ms interval costs the workers a little throughput and keeps the window responsive.
    """
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)


def run_gui(config: SkelwatchConfig, source: str | list[str], screenshot: Path | None = None,
            exit_after_s: float | None = None) -> int:
    """Open the window on `source` (or several cameras' `[NAME=]SPEC`s); with `screenshot`, save what it shows
    after `exit_after_s` seconds and quit.

    Returns:
        The process exit code (2 when there is no display).
    """
    if not has_display():
        print(f"skelwatch gui: {HEADLESS_HELP}", file=sys.stderr)
        return 2
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.style import STYLE

    favour_gui_thread()
    owner = QApplication.instance() is None  # False when embedded (a test harness already made the app)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("skelwatch")
    app.setStyleSheet(STYLE)
    window = MainWindow(config)
    window.show()
    # Paint the window before the model and gallery start loading on a worker: importing torch there holds the
    # GIL and the import lock for seconds, which would otherwise delay the first paint by as much.
    app.processEvents()
    window.start(*([source] if isinstance(source, str) else source))
    # An embedded caller's application must not be quit (its queued signals stop arriving): a local loop ends.
    loop = QEventLoop()
    if exit_after_s is not None:
        def finish() -> None:
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                if not window.grab().save(str(screenshot)):
                    logger.error("could not write the screenshot %s", screenshot)
                else:
                    print(f"screenshot saved to {screenshot}")
            window.close()
            (app.quit if owner else loop.quit)()
        QTimer.singleShot(int(exit_after_s * 1000), finish)
    if owner:
        return int(app.exec())
    if exit_after_s is not None:
        loop.exec()
    return 0
