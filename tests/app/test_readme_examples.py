"""The README's commands work as written: every `./skelwatch ...` example parses with the real parser, every
option the command table names exists, and the cheap examples run for real (headless, on a temporary home).

A renamed command or option, or a README example that drifts from the code, fails here before a user finds it.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.cli import _default_to_gui, build_parser, main

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
EXAMPLE = re.compile(r"`\./skelwatch([^`]*)`")
GUI = ("ui.command",)  # main.py adds the window's command to app.cli's
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_.]*$|\.\.\.")


def readme_examples() -> list[str]:
    """The argument string of every `./skelwatch ARGS` code span (spans may wrap over two lines)."""
    found = [" ".join(m.group(1).split()) for m in EXAMPLE.finditer(README)]
    assert len(found) >= 10, "the README's examples are written as `./skelwatch ARGS`"
    return found


def expand(args: str) -> list[list[str]]:
    """One argv per alternative of an `a|b|c` word (`gallery list|show|...` is one example per action)."""
    tokens = shlex.split(args)
    for i, token in enumerate(tokens):
        if "|" in token and not token.startswith("-"):
            return [argv for alt in token.split("|")
                    for argv in expand(shlex.join([*tokens[:i], alt, *tokens[i + 1:]]))]
    return [tokens]


def full_parser() -> tuple[argparse.ArgumentParser, frozenset[str]]:
    """The parser main.py runs: app's commands and the window's."""
    return build_parser(extra_commands=GUI)


def subparser(name: str) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The whole parser and the parser of one command."""
    parser, _ = full_parser()
    return parser, parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]


@pytest.mark.parametrize("args", readme_examples())
def test_every_readme_example_parses(args: str) -> None:
    variants = expand(args)
    for argv in variants:
        parser, commands = full_parser()
        if len(variants) > 1 or any(PLACEHOLDER.search(t) for t in argv):
            # A pattern (`gallery list|show|...`, `NAME`): each command path must exist and answer --help.
            with pytest.raises(SystemExit) as done:
                parser.parse_args([*[t for t in argv if not PLACEHOLDER.search(t)], "--help"])
            assert done.value.code == 0, argv
        elif "--help" in argv:
            with pytest.raises(SystemExit) as done:
                parser.parse_args(argv)
            assert done.value.code == 0, argv
        else:  # routed as main() routes it: no command means the GUI
            assert callable(parser.parse_args(_default_to_gui(parser, commands, argv)).func), argv


def command_table() -> list[tuple[str, str, set[str]]]:
    """(command, row text, --options named in the row) for each row of the README's command table."""
    section = README.split("All commands (", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| command") or line.startswith("|---"):
            continue
        command = re.findall(r"`([a-z]+)", line.split(" | ", 1)[0])[-1]
        rows.append((command, line, set(re.findall(r"--[a-z][a-z-]*", line))))
    assert {r[0] for r in rows} >= {"gui", "run", "record", "replay", "train", "evaluate", "gallery", "config"}
    return rows


@pytest.mark.parametrize("command, row, options", command_table(), ids=[row[0] for row in command_table()])
def test_every_command_and_option_of_the_table_exists(command: str, row: str, options: set[str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    parser, sub = subparser(command)
    known = {o for a in [*parser._actions, *sub._actions] for o in a.option_strings}
    assert options <= known, f"{row}: {sorted(options - known)} are not options of {command}"
    with pytest.raises(SystemExit) as done:
        parser.parse_args([command, "--help"])
    assert done.value.code == 0 and f"usage: skelwatch {command}" in capsys.readouterr().out


def test_the_wrapper_runs_from_the_root_and_from_elsewhere(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SKELWATCH_HOME", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"  # no activated virtual environment
    done = subprocess.run(["./skelwatch", "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "usage: skelwatch" in done.stdout and "replay" in done.stdout and "torch" not in done.stderr
    done = subprocess.run([str(REPO / "skelwatch"), "config", "check"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "config OK" in done.stdout, done.stderr


def test_main_py_under_a_python_without_the_packages_names_the_wrapper() -> None:
    # -S: no site-packages, as `python main.py` outside the activated .venv (once a torch traceback).
    done = subprocess.run([sys.executable, "-S", "main.py", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "is not installed for" in done.stderr and "./skelwatch ARGS" in done.stderr


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh skelwatch home and working folder, so relative paths in the examples land in tmp_path."""
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_example(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[str, str]:
    code = main(argv, extra_commands=GUI)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out, out.err


def example(starting: str) -> list[str]:
    """The README's example that starts with these words, as argv."""
    matches = [shlex.split(a) for a in readme_examples() if a.split()[: len(starting.split())] == starting.split()]
    assert matches, f"the README has no example `./skelwatch {starting} ...`"
    return matches[0]


def test_the_cheap_examples_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run_example(capsys, example("config show"))
    assert yaml.safe_load(out)["train"]["epochs"] > 0
    out, _ = run_example(capsys, ["config", "check"])  # the command table's `config show|check`
    assert "config OK" in out
    out, err = run_example(capsys, expand(" ".join(example("gallery")))[0])  # `gallery list|show|...`: list
    assert "0 identities" in out and "alembic" not in err


def test_record_then_replay_examples_on_a_small_synthetic_scene(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README records a RealSense camera for 600 s; here the synthetic scene, 1 s of small images.
    record = example("record")
    assert record[record.index("--source") + 1] == "realsense" and record[record.index("--seconds") + 1] == "600"
    record[record.index("--source") + 1] = "synthetic"
    record[record.index("--seconds") + 1] = "1"
    out, _ = run_example(capsys, ["--log-level", "WARNING", *record, "--size", "160x120", "--no-gallery"])
    session = record[record.index("--out") + 1]
    assert f"session: {session}" in out and (home / session / "manifest.json").is_file()
    out, _ = run_example(capsys, ["--log-level", "WARNING", *example("replay"), "--no-gallery"])
    assert "replayed" in out
