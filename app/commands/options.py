"""Options several commands share. Kept free of heavy imports: every command's parser is built for `--help`."""
from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """argparse type for WIDTHxHEIGHT (pixels)."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) >= 16 and int(height) >= 16):
        raise argparse.ArgumentTypeError(f"{text!r}: give the image size as WIDTHxHEIGHT, e.g. 640x480")
    return int(width), int(height)


def add_output_switches(parser: argparse.ArgumentParser, *, scene_size: bool) -> None:
    """The options record, run and replay share: --no-gallery, and --size for the synthetic scene."""
    if scene_size:
        parser.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                            help="image size of the synthetic scene (default 640x480)")
    parser.add_argument("--no-gallery", action="store_true",
                        help="do not match against the gallery database (every track stays unknown)")
