"""skelwatch entry point: `python main.py --help` lists the commands; no command opens the GUI."""
import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
