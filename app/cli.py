"""The command line: one parser, one subcommand module each, one place that turns errors into messages."""
from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import re
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from app.config import default_config_path, load_config
from reid.errors import SkelwatchError

logger = logging.getLogger(__name__)

# Each module defines `register(subparsers)`; the parser it adds sets `func(args, config) -> int`. A module
# imports only argparse-level things at the top (torch, sklearn, mediapipe load inside `func`), so `--help`,
# a typo and `config show` answer at once.
COMMAND_MODULES: tuple[str, ...] = (
    "app.commands.config_cmd",
    "app.commands.train",
    "app.commands.evaluate",
    "app.commands.record",
    "app.commands.replay",
    "app.commands.run",
    "app.commands.gallery",
)
GUI_COMMAND = "gui"
# Libraries whose INFO lines describe their own set-up (alembic's plugins and migration context on every database
# open, faiss's search for a CPU build); storage.db logs the one that matters (a migration). --log-level DEBUG
# shows them again.
CHATTY_LOGGERS = ("alembic", "faiss.loader")


def closest(word: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the choice nearest `word`, or '' when none is near."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class Parser(argparse.ArgumentParser):
    """argparse, plus the nearest valid choice when a command, action or option value is misspelled."""

    def error(self, message: str) -> NoReturn:
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if bad:
            message += closest(bad.group(1), re.findall(r"'([^']*)'", bad.group(2)))
        super().error(message)


def build_parser(extra_commands: Sequence[str] = ()) -> tuple[argparse.ArgumentParser, frozenset[str]]:
    """The parser with every command of COMMAND_MODULES and of `extra_commands` (modules above app/, such as
    the window's `ui.command`, which main.py adds), and the names of those commands."""
    parser = Parser(
        prog="skelwatch",
        description="skelwatch: recognise people by the 3D motion of their skeleton (Hi-MPC). "
        "With no command it opens the desktop GUI on the bundled demo.",
    )
    parser.add_argument("--config", type=Path, default=None,
                        help=f"YAML config merged over the defaults (default: {default_config_path()} if present)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (*COMMAND_MODULES, *extra_commands):
        importlib.import_module(name).register(subparsers)
    return parser, frozenset(subparsers.choices)


def _default_to_gui(parser: argparse.ArgumentParser, commands: frozenset[str], argv: list[str]) -> list[str]:
    """Insert `gui` when no command is named, so `main.py --screenshot F` means `main.py gui --screenshot F`.

    The global options come first; the first token that is neither a global option nor its value is either a
    command (argv is left alone) or the start of the gui's own options (`gui` goes in front of it). A word there
    that is no command is a misspelled one (the gui takes no words): an error naming the commands.
    """
    takes_value = {opt for action in parser._actions if action.option_strings and action.nargs != 0
                   for opt in action.option_strings}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in commands:
            return argv
        if token.split("=", 1)[0] in takes_value:
            i += 1 if "=" in token else 2
            continue
        if not token.startswith("-"):
            names = sorted(commands)
            parser.error(f"unknown command '{token}'{closest(token, names)}; the commands are {', '.join(names)} "
                         "(see --help)")
        break
    return [*argv[:i], GUI_COMMAND, *argv[i:]]


def main(argv: list[str] | None = None, extra_commands: Sequence[str] = ()) -> int:
    """Run one command; `extra_commands` are command modules of the layers above app/ (see build_parser)."""
    parser, commands = build_parser(extra_commands)
    argv = list(sys.argv[1:] if argv is None else argv)
    if GUI_COMMAND in commands and not any(a in ("-h", "--help") for a in argv):
        argv = _default_to_gui(parser, commands, argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "DEBUG":
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        config = load_config(args.config or default_config_path(), args.overrides, must_exist=args.config is not None)
        return int(args.func(args, config) or 0)
    except SkelwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
