"""skelwatch entry point: `./skelwatch --help` (`python main.py --help` inside the .venv) lists the commands; no
command opens the GUI.

The entry point sits above every layer, so it is where the window's command joins the others.
"""
import os
import sys

try:
    from app.cli import main
except ModuleNotFoundError as exc:  # a Python without the project's packages: name the command that has them
    if (exc.name or "").split(".")[0] in ("app", "capture", "core", "reid", "storage", "ui"):
        raise
    sys.exit(f"skelwatch: {exc.name} is not installed for {sys.executable}; run `./skelwatch ARGS` from the "
             "repository root (it uses the project's .venv, set up by scripts/setup.sh), or activate .venv first")


def run() -> int:
    try:
        code = main(extra_commands=("ui.command",))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` stopped reading: the reader has what it wanted, not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's own flush stays quiet
        return 0
    return code


if __name__ == "__main__":
    sys.exit(run())
