"""Second-start benchmark: what a user waits for once everything is installed.

    .venv/bin/python -m bench.startup            # 3 runs of each, median
    .venv/bin/python -m bench.startup --runs 5

Measures, each in a fresh process: `scripts/setup.sh` with nothing to do, `main.py --help` and `main.py train
--help`, and the GUI (offscreen) from process start to its window's first paint, with whether torch was loaded by
then. Wall and CPU seconds (CPU is less sensitive to a loaded machine). The baseline, measured in the same run, is
the interpreter starting and importing app.config (what any command needs); ratios are against it. Targets: a set-up
with nothing to do < 1 s, --help < 1 s, first paint < 3 s.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")

# Run in the GUI child: QApplication, then ui.app.run_gui on the demo; prints the first paint's time and CPU.
FIRST_PAINT = """
import sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QObject, QEvent
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
from app.config import default_config_path, load_config
from ui.app import run_gui
class Painted(QObject):
    seen = None
    def eventFilter(self, obj, ev):
        if self.seen is None and ev.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            self.seen = (time.perf_counter() - t0, time.process_time(), "torch" in sys.modules)
        return False
watch = Painted()
app.installEventFilter(watch)
run_gui(load_config(default_config_path()), "demo", None, 2.0)
print("PAINT", *watch.seen)
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def median_of(runs: int, cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    results = [timed(cmd, env)[:2] for _ in range(runs)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of {args.runs} runs")
    subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, check=True)  # so the next ones have nothing to do
    base_wall, base_cpu = median_of(args.runs, [PYTHON, "-c", "import app.config"])
    print(f"baseline (interpreter + app.config): {base_wall:.2f} s wall, {base_cpu:.2f} s CPU")
    figures = {}
    for key, cmd in (("setup_noop", ["bash", "scripts/setup.sh"]), ("help", [PYTHON, "main.py", "--help"]),
                     ("train_help", [PYTHON, "main.py", "train", "--help"])):
        wall, cpu = median_of(args.runs, cmd)
        figures[key] = wall
        label = "setup.sh, nothing to do" if key == "setup_noop" else " ".join(cmd[1:])
        print(f"{label}: {wall:.2f} s wall "
              f"({wall / base_wall:.1f}x baseline), {cpu:.2f} s CPU")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    paints = []
    for _ in range(args.runs):
        line = next(x for x in timed([PYTHON, "-c", FIRST_PAINT], env)[2].splitlines() if x.startswith("PAINT"))
        _, wall, cpu, torch = line.split()
        paints.append((float(wall), float(cpu), torch == "True"))
    paint_wall = statistics.median(p[0] for p in paints)
    print(f"GUI first paint: {paint_wall:.2f} s wall ({paint_wall / base_wall:.1f}x baseline), "
          f"{statistics.median(p[1] for p in paints):.2f} s CPU; torch loaded by then in {sum(p[2] for p in paints)} "
          f"of {len(paints)} runs")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"RESULT setup_noop_s={figures['setup_noop']:.2f} help_s={figures['help']:.2f} "
          f"first_paint_s={paint_wall:.2f}")


if __name__ == "__main__":
    sys.exit(main())
