"""Skeleton datasets: one reader per format, registered by name, all returning a `SkeletonDataset`.

`load_dataset(path)` picks the format from the path when none is named. Readers never hide a bad row: what
they drop or repair is counted in the dataset's `RepairReport`, and a file they cannot use is an error
naming it (or, for an empty file the dataset is known to contain, a counted skip with its reason).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets import kinect_txt, npy, synthetic_format, ucalgary
from reid.errors import DatasetError

__all__ = ["FORMATS", "DatasetFormat", "ProbeSet", "RepairReport", "Sequence", "SkeletonDataset",
           "detect_format", "load_dataset"]


@dataclass(frozen=True)
class DatasetFormat:
    """A registered reader: `load(path, **options)` and `detect(path)` (True if the path looks like it)."""

    name: str
    load: Callable[..., SkeletonDataset]
    detect: Callable[[str | Path], bool]
    description: str


# Detection tries formats in this order: the most specific first, plain text files last.
FORMATS: dict[str, DatasetFormat] = {
    "synthetic": DatasetFormat("synthetic", synthetic_format.load, synthetic_format.is_spec,
                               'generated walkers: "synthetic:ids=20,seqs=6,frames=120,seed=0"'),
    "ucalgary": DatasetFormat("ucalgary", ucalgary.load, ucalgary.detect,
                              "UCalgary gait folder subN/RunK/*GeometricPositions*.csv (Kinect v2, 18 joints)"),
    "npy": DatasetFormat("npy", npy.load, npy.detect,
                         "Hi-MPC preprocessed windows Datasets/<DS>/<f>/train_npy_data|test_npy_data"),
    "kinect-txt": DatasetFormat("kinect-txt", kinect_txt.load, kinect_txt.detect,
                                "text skeleton files, one row per frame (options layout=, name_pattern=)"),
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


def load_dataset(path: str | Path, format: str | None = None, **options: object) -> SkeletonDataset:
    """Load a dataset by format name, or detect the format from `path`.

    Raises:
        DatasetError: an unknown format (listing valid names), or any problem the reader finds.
    """
    name = format or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown dataset format {name!r}; valid formats: {', '.join(FORMATS)}")
    return FORMATS[name].load(path, **options)
