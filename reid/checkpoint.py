"""Model checkpoints: a folder with `weights.safetensors` and `model.json` (shape, layout, version).

Weights are safetensors, so loading runs no code. `model.json` says which joint layout and sizes the weights are
for, so a checkpoint of another layout or another format version is refused with a clear message instead of a
shape error deep inside torch.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import get_type_hints

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.errors import SkelwatchError
from reid.errors import CheckpointError
from reid.model import HiMPC

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "model.json"


@dataclass(frozen=True)
class ModelMeta:
    num_joints: int
    hidden: int
    heads: int
    frames: int
    layout: str
    align_heading: bool = False  # the view normalisation (reid.heading) is part of the model's function
    # The MSMR distance at a 1% window false-accept rate on labelled data (`evaluate --calibrate`), the match
    # threshold the app uses when gallery.accept_distance is not set; None: never calibrated.
    accept_distance: float | None = None
    # The distance at which a new track may continue a track that left another camera when the time between them
    # fits what the site's confident hand-offs took (`evaluate --calibrate-handoff`: a 2 % false-accept rate per
    # pair of tracks); None: never calibrated, hand-offs use accept_distance alone.
    handoff_distance: float | None = None
    # w of the body-shape term appended to the MSMR (reid.model.HiMPC), chosen on synthetic data by
    # `evaluate --fit-shape-weight`; 0: plain MSMR. Part of the model's function, so of its version.
    shape_weight: float = 0.0
    model_version: str = ""   # content hash of the weights: embeddings carry it, so old and new never mix
    format_version: int = FORMAT_VERSION
    trained_on: str = ""


def weights_hash(model: HiMPC) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    if model.align_heading:  # same weights, another function: another version (old hashes stay valid)
        digest.update(b"align_heading")
    if model.shape_weight:
        digest.update(f"shape_weight={model.shape_weight!r}".encode())
    return digest.hexdigest()[:16]


def save_model(folder: Path, model: HiMPC, meta: ModelMeta) -> ModelMeta:
    """Write the model to `folder` (created); returns the meta with its `model_version` filled in."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = ModelMeta(**{**asdict(meta), "model_version": weights_hash(model), "num_joints": model.num_joints,
                        "hidden": model.hidden, "heads": model.num_heads, "align_heading": model.align_heading,
                        "shape_weight": model.shape_weight, "format_version": FORMAT_VERSION})
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(folder / WEIGHTS_FILE)  # atomic: a crash never leaves half a weights file under the real name
    _write_meta(folder, meta)
    return meta


def _write_meta(folder: Path, meta: ModelMeta) -> None:
    (folder / META_FILE).write_text(json.dumps(asdict(meta), indent=2), encoding="utf-8")


def write_meta(path: Path, meta: ModelMeta) -> None:
    """Replace the description of the checkpoint at `path` (the weights, and so the version, are untouched)."""
    _write_meta(resolve(path), meta)


def resolve(path: Path) -> Path:
    """Accept a checkpoint folder or a training run folder (whose `best/` is used)."""
    path = Path(path)
    if (path / META_FILE).exists():
        return path
    if (path / "best" / META_FILE).exists():
        return path / "best"
    raise CheckpointError(f"{path}: no checkpoint here (expected {META_FILE} and {WEIGHTS_FILE}, or a run folder "
                          f"with best/); train one with `./skelwatch train` or use models/default")


# Upper bounds of a sane model: a damaged file must not make the loader allocate gigabytes before it fails.
_LIMITS = {"num_joints": 64, "hidden": 4096, "heads": 64, "frames": 1000}


def _field_error(name: str, value: object, kind: object) -> str | None:
    """Why `value` cannot be the ModelMeta field `name` of type `kind`, or None when it can."""
    if value is None:
        return None if kind == (float | None) else "null"
    if kind in (float, float | None):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _LIMITS.get(name, 1 << 62)
    else:
        ok = isinstance(value, kind)  # bool, str
    return None if ok else repr(value)[:40]


def _meta_from(raw: object, where: Path) -> ModelMeta:
    """A ModelMeta from model.json's parsed content; CheckpointError naming the first key that does not fit."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where}: not a checkpoint description (a JSON object was expected)")
    kinds = get_type_hints(ModelMeta)
    unknown = sorted(set(raw) - set(kinds))
    if unknown:
        raise CheckpointError(f"{where}: unknown key {unknown[0]!r} (valid: {', '.join(kinds)}); the file was "
                              "edited or written by another program")
    for name, kind in kinds.items():
        bad = _field_error(name, raw[name], kind) if name in raw else None
        if bad is not None:
            raise CheckpointError(f"{where}: {name} is {bad}, not a valid {getattr(kind, '__name__', kind)}")
    try:
        return ModelMeta(**raw)
    except TypeError as exc:  # a required key missing
        missing = sorted(set(kinds) - set(raw))
        raise CheckpointError(f"{where}: key {missing[0] if missing else '?'} missing; re-save the model "
                              "(`./skelwatch train`) or restore the file") from exc


def read_meta(path: Path) -> ModelMeta:
    folder = resolve(path)
    try:
        raw = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{folder / META_FILE}: unreadable checkpoint description ({exc})") from None
    except OSError as exc:
        raise CheckpointError(f"{folder / META_FILE}: cannot read it ({exc.strerror})") from None
    meta = _meta_from(raw, folder / META_FILE)
    if meta.format_version != FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {meta.format_version}, this skelwatch reads "
                              f"{FORMAT_VERSION}; re-train or upgrade skelwatch")
    return meta


def load_model(path: Path, expect_joints: int | None = None, device: str = "cpu") -> tuple[HiMPC, ModelMeta]:
    """Load a checkpoint for inference or further training.

    Args:
        expect_joints: if given, the joint count the caller's data has; a mismatch is a CheckpointError.
    Raises:
        CheckpointError: missing, corrupt, other format version, or another joint layout.
    """
    folder = resolve(path)
    meta = read_meta(folder)
    if expect_joints is not None and meta.num_joints != expect_joints:
        raise CheckpointError(f"{folder}: the model was trained on {meta.num_joints}-joint skeletons "
                              f"({meta.layout}) but the data has {expect_joints} joints; use a checkpoint "
                              f"trained on this layout")
    try:
        state = load_file(str(folder / WEIGHTS_FILE), device=device)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{folder / WEIGHTS_FILE}: corrupt or unreadable weights ({exc})") from None
    head = tuple(state["heads.joint"].shape) if "heads.joint" in state else None
    if head != (meta.heads, meta.hidden, meta.hidden):
        raise CheckpointError(f"{folder}: the weights hold heads of shape {head}, the description says "
                              f"({meta.heads}, {meta.hidden}, {meta.hidden}); the files do not belong together")
    try:
        model = HiMPC(meta.num_joints, meta.hidden, meta.heads, meta.align_heading, meta.shape_weight).to(device)
        model.load_state_dict(state)
    except (RuntimeError, SkelwatchError) as exc:
        raise CheckpointError(f"{folder}: weights do not fit the described model ({str(exc).splitlines()[0]})") \
            from None
    model.eval()
    return model, meta
