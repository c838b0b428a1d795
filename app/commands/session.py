"""`session check|repair`: read a recorded session as replay would, or repair what a killed recording left."""
from __future__ import annotations

import argparse
from pathlib import Path

from app.config import SkelwatchConfig
from app.session_repair import check_session, repair_session


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "session", help="check or repair a recorded session folder",
        description="check: read every file of a session as replay and training do, and count the lines they "
        "skip (torn, duplicated, out of order); writes nothing. repair: drop a torn last line (what a killed "
        "recording leaves) and finalise an unfinished manifest from the last frame, printing each change; "
        "replay and train never change a session, so this is the only command that does.")
    parser.add_argument("action", choices=["check", "repair"])
    parser.add_argument("folder", type=Path, help="the session folder")
    parser.add_argument("--dry-run", action="store_true", help="repair: print what would change, change nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    if args.action == "check":
        result = check_session(args.folder)
        for line in result.summary():
            print(line)
        print(f"session {args.folder}: readable")
        return 0
    result = repair_session(args.folder, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    for change in result.changes:
        print(f"{verb}: {change}")
    print(f"session {args.folder}: {len(result.changes)} change(s)" + (" (dry run)" if args.dry_run else "")
          if result.changes else f"session {args.folder}: nothing to repair")
    return 0
