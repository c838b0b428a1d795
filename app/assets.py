"""Build, once, the assets skelwatch makes for itself at set-up (run by scripts/setup.sh).

Each builder is idempotent: it checks whether its output exists and is current, and returns quickly if so.
Nothing here downloads: every asset is made from files the installed packages ship or from the project.
"""
from __future__ import annotations

import importlib
import logging
import sys

logger = logging.getLogger(__name__)

# "module:function" names, run in order; each takes no argument and returns a short status string.
BUILDERS: tuple[str, ...] = (
    "capture.pose.bundle:build_bundle",
    "capture.sources.synthetic:build_demo_recording",
    "app.demo:build_demo_gallery",
)


def build_all() -> None:
    for spec in BUILDERS:
        module_name, func_name = spec.split(":")
        status = getattr(importlib.import_module(module_name), func_name)()
        print(f"setup: {status}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    build_all()
    sys.exit(0)
