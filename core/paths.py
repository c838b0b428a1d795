"""Where skelwatch keeps what it makes: one answer for every package (capture builds assets there too)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def home_dir() -> Path:
    """Where skelwatch keeps its database, demo, sessions and user config: `$SKELWATCH_HOME` or `./data`."""
    return Path(os.environ.get("SKELWATCH_HOME", REPO_ROOT / "data"))
