"""`python main.py` with no command opens the GUI; its own options pass through to `gui`."""
from __future__ import annotations

import pytest

from app.cli import _default_to_gui, build_parser


@pytest.mark.parametrize(("argv", "expected"), [
    ([], ["gui"]),
    (["--screenshot", "w.png", "--exit-after", "5"], ["gui", "--screenshot", "w.png", "--exit-after", "5"]),
    (["--set", "ui.top_k=3", "--screenshot", "w.png"], ["--set", "ui.top_k=3", "gui", "--screenshot", "w.png"]),
    (["--config=c.yaml"], ["--config=c.yaml", "gui"]),
    (["replay", "demo"], ["replay", "demo"]),
    (["--log-level", "DEBUG", "run", "--source", "demo"], ["--log-level", "DEBUG", "run", "--source", "demo"]),
])
def test_no_command_means_gui(argv, expected):
    parser, commands = build_parser(extra_commands=("ui.command",))
    routed = _default_to_gui(parser, commands, argv)
    assert routed == expected
    args = parser.parse_args(routed)
    if "gui" in routed:
        assert args.command == "gui" and args.func.__module__ == "ui.command"
        if "--screenshot" in argv:
            assert str(args.screenshot) == "w.png"
