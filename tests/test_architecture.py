"""The architecture holds: import-linter's contracts (.importlinter) and one composition root.

Both fail on a breach: a module of ui/ importing storage, an app/ module importing PySide6, or a second place
that builds a gallery or a tracker (where the config would be turned into arguments a second way).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("app", "capture", "core", "reid", "storage", "ui", "bench")

# Each component is built in one place (besides the module that defines it and the checkpoint loader).
BUILT_ONLY_IN = {
    "Gallery": {"app/compose.py"},
    "GalleryMatcher": {"app/compose.py"},
    "HandoffBook": {"app/compose.py"},
    "MultiPipeline": {"app/compose.py"},
    "Tracker": {"app/compose.py"},
    "WindowBuffer": {"app/compose.py"},
    "PoseEstimator": {"app/compose.py"},
    "HiMPC": {"app/compose.py", "reid/checkpoint.py", "reid/model.py"},  # model.py: with_shape_weight copies
}


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def _constructor_calls(path: Path) -> set[str]:
    """Names of BUILT_ONLY_IN classes called in the module's code (docstrings and comments do not count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in BUILT_ONLY_IN:
                called.add(name)
    return called


@pytest.mark.parametrize("component", sorted(BUILT_ONLY_IN))
def test_one_place_builds_each_component(component: str) -> None:
    builders = {str(p.relative_to(ROOT)) for package in PRODUCT for p in (ROOT / package).rglob("*.py")
                if component in _constructor_calls(p)}
    assert builders <= BUILT_ONLY_IN[component], f"{component} is built in {sorted(builders)}"
    assert builders, f"nothing builds {component}: the list above is out of date"
