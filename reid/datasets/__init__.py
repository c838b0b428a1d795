"""Skeleton datasets: one reader per format, registered by name, all returning a `SkeletonDataset`.

`load_dataset(path)` picks the format from the path when none is named. Readers never hide a bad row: what
they drop or repair is counted in the dataset's `RepairReport`, and a file they cannot use is an error
naming it (or, for an empty file the dataset is known to contain, a counted skip with its reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets import kinect_txt, npy, synthetic_format, ucalgary
from reid.errors import DatasetError

__all__ = ["FORMATS", "DatasetFormat", "ProbeSet", "RepairReport", "Sequence", "SkeletonDataset",
           "detect_format", "format_help", "load_dataset", "parse_bool"]


def parse_bool(text: str) -> bool:
    """A reader option's yes/no value as typed on a command line."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{text!r} is not true or false")
    return value in ("true", "1", "yes")


@dataclass(frozen=True)
class DatasetFormat:
    """A registered reader: `load(path, **options)` and `detect(path)` (True if the path looks like it).

    `options` maps each keyword option the reader takes to the parser of its command-line text (`--option
    KEY=VALUE`), so unknown keys and bad values are refused before anything is read.
    """

    name: str
    load: Callable[..., SkeletonDataset]
    detect: Callable[[str | Path], bool]
    description: str
    options: Mapping[str, Callable[[str], object]] = field(default_factory=dict)


# Detection tries formats in this order: the most specific first, plain text files last.
FORMATS: dict[str, DatasetFormat] = {
    "synthetic": DatasetFormat("synthetic", synthetic_format.load, synthetic_format.is_spec,
                               'generated walkers: "synthetic:ids=20,seqs=6,frames=120,seed=0"',
                               synthetic_format.OPTIONS),
    "ucalgary": DatasetFormat("ucalgary", ucalgary.load, ucalgary.detect,
                              "UCalgary gait folder subN/RunK/*GeometricPositions*.csv (Kinect v2, 18 joints)",
                              {"min_frames": int, "max_gap": int}),
    "npy": DatasetFormat("npy", npy.load, npy.detect,
                         "Hi-MPC preprocessed windows Datasets/<DS>/<f>/train_npy_data|test_npy_data",
                         {"frames": int, "allow_pickle": parse_bool, "fps": float}),
    "kinect-txt": DatasetFormat("kinect-txt", kinect_txt.load, kinect_txt.detect,
                                "text skeleton files, one row per frame, identity/session from the file name",
                                {"layout": str, "name_pattern": str, "glob": str, "gallery_sessions": str,
                                 "probe_sessions": str, "probe_set_name": str, "fps": float, "min_frames": int,
                                 "max_gap": int}),
}


def detect_format(path: str | Path) -> str:
    """The name of the first format whose detector accepts `path`.

    Raises:
        DatasetError: naming the path and listing the formats when none fits.
    """
    for name, fmt in FORMATS.items():
        if fmt.detect(path):
            return name
    if not Path(path).exists():
        raise DatasetError(f"dataset path {str(path)!r} does not exist; give a dataset folder or file, or a spec "
                           f"such as 'synthetic:ids=20'")
    if Path(path).is_dir() and not any(p.is_file() for p in Path(path).rglob("*")):
        raise DatasetError(f"dataset folder {str(path)!r} is empty; give a folder that holds the dataset's files")
    listing = "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())
    raise DatasetError(f"cannot tell the format of {str(path)!r}; name one with --format NAME ({listing})")


def format_help() -> str:
    """Every format with the reader options it takes, for the CLI's help."""
    return "; ".join(f"{f.name} ({', '.join(f.options) or 'no options'})" for f in FORMATS.values())


def _checked_options(fmt: DatasetFormat, options: Mapping[str, object]) -> dict[str, object]:
    """`options` with command-line text parsed to each option's type; unknown keys and bad values refused."""
    out: dict[str, object] = {}
    for key, value in options.items():
        if key not in fmt.options:
            raise DatasetError(f"format {fmt.name!r} has no option {key!r}; valid options: "
                               f"{', '.join(fmt.options) or 'none'}")
        try:
            out[key] = fmt.options[key](value) if isinstance(value, str) else value
        except ValueError as exc:
            raise DatasetError(f"format {fmt.name!r}: option {key}={value!r} is not valid ({exc})") from None
    return out


def load_dataset(path: str | Path, format: str | None = None, **options: object) -> SkeletonDataset:
    """Load a dataset by format name, or detect the format from `path`.

    Options given as text (from `--option KEY=VALUE`) are parsed to the type the reader expects.

    Raises:
        DatasetError: an unknown format (listing valid names), an option the format does not take (listing
            those it does), or any problem the reader finds.
    """
    name = format or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown dataset format {name!r}; valid formats: {', '.join(FORMATS)}")
    return FORMATS[name].load(path, **_checked_options(FORMATS[name], options))
