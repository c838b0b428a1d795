"""requirements.txt pins the whole resolved set: every distribution the direct dependencies pull in, transitively,
is pinned with ==, so a fresh install is the tested one (setuptools once arrived unpinned through torch)."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    return {canonical(line.split("==")[0]): line.split("==")[1] for line in lines if line}


def test_every_requirement_is_an_exact_pin() -> None:
    lines = [line.strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    loose = [line for line in lines if line and not line.startswith("#") and not re.fullmatch(r"[\w.-]+==[\w.+!-]+",
                                                                                               line)]
    assert loose == []


def test_the_installed_closure_of_the_pins_is_pinned() -> None:
    pinned = pins()
    seen, todo = set(), list(pinned)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        if name in pinned:  # the installed version is the pinned one (a local label such as +cpu is the same release)
            assert dist.version.split("+")[0] == pinned[name].split("+")[0], name
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonical(req.name))
    assert seen <= set(pinned), f"installed through the pins but not pinned: {sorted(seen - set(pinned))}"
