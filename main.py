"""skelwatch entry point: `python main.py --help` lists the commands; no command opens the GUI.

The entry point sits above every layer, so it is where the window's command joins the others.
"""
import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main(extra_commands=("ui.command",)))
