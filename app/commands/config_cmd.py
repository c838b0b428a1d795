"""`config show|check`: print the effective config, or validate a file and say it is fine."""
from __future__ import annotations

import argparse
import sys

import yaml

from app.config import SkelwatchConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="show or check the effective configuration",
                                   description="Show the effective configuration (defaults + file + --set), "
                                   "or check that a config file is valid.")
    parser.add_argument("action", choices=["show", "check"], help="show: print it as YAML; check: validate only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    if args.action == "show":
        sys.stdout.write(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    else:
        print(f"config OK ({args.config or 'defaults'})")
    return 0
