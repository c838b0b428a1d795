"""Where the shared real data lives: `$SKELWATCH_SHARED_DATA`, else `../shared/data` beside the repository.

Tests and benchmarks read it in place (it is research-only data: never copied into the repository). A missing
folder is a clear failure naming the path, never a silent skip.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKELWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under the shared data folder (it may not exist: callers that need it fail on use)."""
    return SHARED_DATA.joinpath(*parts)


UCALGARY = shared_path("ucalgary-gait")
VTEST = shared_path("opencv-vtest", "vtest.avi")
