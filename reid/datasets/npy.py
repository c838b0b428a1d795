"""The Hi-MPC authors' preprocessed windows (github.com/Kali-Hac/Hi-MPC, utils/process*.py; spec §1.1, §3).

Layout under `Datasets/<DS>/<f>/` (CASIA-B: `Datasets/CASIA_B_match/<f>/` with `CASIA_B_` prefixed folders):
  train_npy_data/source_{x,y,z}_<DS>_<f>.npy       one coordinate, reshaped by the code to (N, f, V)
  train_npy_data/frame_id_<DS>_<f>.npy             (N,) identity label per window
  test_npy_data/<split>/t_source_{x,y,z}_<DS>_<f>.npy and frame_id_<DS>_<f>.npy
Splits and probe sets: IAS `A`/`B` (IAS-A = probe A vs gallery B, IAS-B the reverse), BIWI `Walking`/`Still`
(BIWI-W = probe Walking vs gallery Still, BIWI-S the reverse), KS20 and KGBD `probe`/`gallery`, CASIA-B
conditions `nm`/`cl`/`bg` (settings probe.gallery nm.nm, cl.cl, bg.bg with probe = gallery, cl.nm, bg.nm).
Each window becomes one f-frame Sequence (`windowed=True`) in its native joint count: 20 kinect_v1, 25
kinect_v2, 14 openpose14. The `ids_*.npy` files (pickled dicts) are not needed and never loaded.
KGBD's files keep the raw KGBD joint order; the official code permutes it into Kinect v1 order when loading
(utils/process.py, `KGBD_TO_KINECT_V1`), and so does this reader, so its levels and heading use the right joints.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from tokenize import TokenError

import numpy as np

from reid.datasets.base import ProbeSet, RepairReport, Sequence, SkeletonDataset
from reid.datasets.repair import missing_mask
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

LAYOUT_BY_JOINTS = {20: "kinect_v1", 25: "kinect_v2", 14: "openpose14"}
# (probe set name, probe split, gallery split); a setting is offered when both splits are present.
SETTINGS = (("IAS-A", "A", "B"), ("IAS-B", "B", "A"), ("BIWI-W", "Walking", "Still"), ("BIWI-S", "Still", "Walking"),
            ("probe", "probe", "gallery"), ("nm.nm", "nm", "nm"), ("cl.cl", "cl", "cl"), ("bg.bg", "bg", "bg"),
            ("cl.nm", "cl", "nm"), ("bg.nm", "bg", "nm"))
_TRAIN_X = re.compile(r"^source_x_(?P<ds>.+)_(?P<f>\d+)\.npy$")
# Kinect v1 joint i of a KGBD window is raw KGBD joint KGBD_TO_KINECT_V1[i] (the official code's mapping).
KGBD_TO_KINECT_V1 = (11, 10, 1, 0, 2, 4, 6, 8, 3, 5, 7, 9, 12, 14, 16, 18, 13, 15, 17, 19)


def _train_dir(folder: Path) -> Path | None:
    """`train_npy_data`, or CASIA-B's `CASIA_B_train_npy_data`, inside `folder`."""
    if (folder / "train_npy_data").is_dir():
        return folder / "train_npy_data"
    found = sorted(p for p in folder.glob("*_train_npy_data") if p.is_dir())
    return found[0] if found else None


def find_root(path: str | Path, frames: int | None = None) -> Path | None:
    """The `<DS>/<f>` folder holding the train folder: `path` itself, or its `<f>` (or only) subfolder."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    if _train_dir(folder) is not None:
        return folder
    candidates = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and _train_dir(p))
    if frames is not None:
        candidates = [p for p in candidates if int(p.name) == frames]
    return candidates[0] if len(candidates) == 1 else None


def detect(path: str | Path) -> bool:
    folder = Path(path)
    return folder.is_dir() and (find_root(folder) is not None or any(
        p.is_dir() and p.name.isdigit() and _train_dir(p) for p in folder.iterdir()))


def _load_array(path: Path, allow_pickle: bool) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"npy: missing file {path}; expected the authors' preprocessed layout "
                           f"(see reid/datasets/npy.py)")
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except (SyntaxError, TokenError) as exc:  # the header is a Python literal; a damaged one fails to parse
        raise DatasetError(f"npy: {path} has a damaged .npy header ({type(exc).__name__})") from None
    except ValueError as exc:
        hint = " (it holds Python objects: pass allow_pickle=True only for files you trust)" if not allow_pickle else ""
        raise DatasetError(f"npy: cannot read {path}: {exc}{hint}") from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"npy: {path} is not a readable .npy file ({exc}); the file may be truncated") from None


def _joint_count(x: np.ndarray, frames: int, ds: str) -> int | None:
    """V of a coordinate array that the official code reshapes to (-1, f, V).

    The stored shape is not documented, so V is read from the last axis (V or f*V), else taken from the dataset
    (25 for KS20, 14 for CASIA-B, 20 otherwise) when the size allows; None when nothing fits.
    """
    last = x.shape[-1] if x.ndim >= 1 else 0
    for count in LAYOUT_BY_JOINTS:
        if last in (count, frames * count) and x.size % (frames * count) == 0:
            return count
    fallback = 25 if ds.startswith("KS20") else 14 if ds.startswith("CASIA") else 20
    return fallback if x.size and x.size % (frames * fallback) == 0 else None


def read_windows(folder: Path, prefix: str, ds: str, frames: int, allow_pickle: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """((N, f, V, 3) float32 windows, (N,) labels) from one folder's x/y/z and frame_id files (KGBD's joints
    permuted to Kinect v1 order).

    Raises:
        DatasetError: a missing file, coordinates that are not real numbers, mismatched x/y/z shapes, a size
            not divisible by f, or a label count that differs from the window count, naming the file.
    """
    coords = []
    for axis in "xyz":
        path = folder / f"{prefix}source_{axis}_{ds}_{frames}.npy"
        array = _load_array(path, allow_pickle)
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise DatasetError(f"npy: {path} holds {array.dtype} values; coordinates must be real numbers")
        coords.append(array)
    if len({c.size for c in coords}) != 1:
        raise DatasetError(f"npy: {folder}: x/y/z files differ in size ({[c.size for c in coords]})")
    num_joints = _joint_count(coords[0], frames, ds)
    if num_joints is None:
        raise DatasetError(f"npy: {folder / f'{prefix}source_x_{ds}_{frames}.npy'} has shape {coords[0].shape}; "
                           f"expected (N, {frames}, V), (N*{frames}, V) or (N, {frames}*V) with V in "
                           f"{sorted(LAYOUT_BY_JOINTS)}")
    data = np.stack([c.reshape(-1, frames, num_joints) for c in coords], axis=-1).astype(np.float32)
    if ds.upper() == "KGBD" and num_joints == len(KGBD_TO_KINECT_V1):
        data = data[:, :, list(KGBD_TO_KINECT_V1)]
    labels = _load_array(folder / f"frame_id_{ds}_{frames}.npy", allow_pickle).reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise DatasetError(f"npy: {folder / f'frame_id_{ds}_{frames}.npy'} has {labels.shape[0]} labels for "
                           f"{data.shape[0]} windows")
    return data, labels


def load(path: str | Path, *, frames: int | None = None, allow_pickle: bool = False, fps: float = 30.0
         ) -> SkeletonDataset:
    """Read the train windows and every test split present; probe sets from the splits found.

    Args:
        path: the `<DS>/<f>` folder, or `<DS>` with one `<f>` subfolder (or `frames=` to choose).
        allow_pickle: let numpy unpickle object arrays (only for trusted files).
    Raises:
        DatasetError: a missing folder or file, or arrays of the wrong shape.
    """
    root = find_root(path, frames)
    if root is None:
        raise DatasetError(f"npy: no train_npy_data folder at {path} (or a single <f>/ below it); expected "
                           f"Datasets/<DS>/<f>/train_npy_data/source_x_<DS>_<f>.npy; pass frames= to choose f")
    train_dir = _train_dir(root)
    found = [m for m in (_TRAIN_X.match(p.name) for p in sorted(train_dir.glob("source_x_*.npy"))) if m]
    if not found:
        raise DatasetError(f"npy: no source_x_<DS>_<f>.npy in {train_dir}")
    ds, f = found[0].group("ds"), int(found[0].group("f"))
    report = RepairReport()
    sequences: list[Sequence] = []
    layouts: set[str] = set()

    def add(folder: Path, prefix: str, split: str) -> tuple[int, ...]:
        data, labels = read_windows(folder, prefix, ds, f, allow_pickle)
        layouts.add(LAYOUT_BY_JOINTS[data.shape[2]])
        report.frames_read += data.shape[0] * f
        bad = missing_mask(data).any(axis=(1, 2))  # a window with a NaN or zero joint is dropped whole
        for n in np.flatnonzero(bad):
            report.frames_dropped += f
            report.skip(f"{split}/{n}", "window with a NaN or untracked (all-zero) joint", is_file=False)
        start = len(sequences)
        sequences.extend(Sequence(data[n], str(labels[n]), f"{split}/{n}", split, fps)
                         for n in np.flatnonzero(~bad))
        return tuple(range(start, len(sequences)))

    train = add(train_dir, "", "train")
    test_dir = root / train_dir.name.replace("train", "test")
    splits = {p.name: add(p, "t_", p.name) for p in sorted(test_dir.iterdir()) if p.is_dir()} if test_dir.is_dir() \
        else {}
    if len(layouts) > 1:
        raise DatasetError(f"npy: {root} mixes joint counts ({', '.join(sorted(layouts))})")
    probe_sets = [ProbeSet(name, splits[p], splits[g], same_set=p == g)
                  for name, p, g in SETTINGS if p in splits and g in splits]
    logger.info("npy %s/%d: %d windows, splits %s; %s", ds, f, len(sequences), sorted(splits), report.summary())
    return SkeletonDataset(f"npy({ds}/{f})", layouts.pop(), sequences, probe_sets, train, report, windowed=True)
