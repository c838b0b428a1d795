"""The `synthetic` dataset format: a spec string such as "synthetic:ids=20,seqs=6,seed=0" or options."""
from __future__ import annotations

from pathlib import Path

from reid.datasets.base import SkeletonDataset
from reid.errors import DatasetError

PREFIX = "synthetic"
# Spec keys -> make_dataset arguments and their types.
_KEYS: dict[str, tuple[str, type]] = {
    "ids": ("n_identities", int), "seqs": ("sequences_per_identity", int), "frames": ("frames", int),
    "limp": ("limp_sequences", int),
    "seed": ("seed", int), "fps": ("fps", float), "noise_m": ("noise_m", float), "bias_m": ("bias_m", float),
    "drop_rate": ("drop_rate", float), "frame_drop_rate": ("frame_drop_rate", float),
    "heading_spread_rad": ("heading_spread_rad", float), "camera_height_m": ("camera_height_m", float),
    "centre_depth_m": ("centre_depth_m", float),
}

# `--option` keys: the spec's; `parse_spec` converts their text itself.
OPTIONS: dict[str, type] = {key: str for key in _KEYS}


def is_spec(path: str | Path) -> bool:
    """True for "synthetic" or "synthetic:key=value,...": the format needs no file."""
    text = str(path)
    return text == PREFIX or text.startswith(PREFIX + ":")


def parse_spec(path: str | Path, options: dict[str, object]) -> dict[str, object]:
    """Merge the spec string's key=value pairs with `options` (options win) into make_dataset arguments.

    Raises:
        DatasetError: naming an unknown key (with the valid ones) or a value of the wrong type.
    """
    text = str(path)
    pairs: dict[str, object] = {}
    if text.startswith(PREFIX + ":"):
        for item in filter(None, text[len(PREFIX) + 1:].split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise DatasetError(f"synthetic spec {text!r}: {item!r} is not key=value; e.g. synthetic:ids=20,seed=0")
            pairs[key.strip()] = value.strip()
    pairs.update(options)
    kwargs: dict[str, object] = {}
    lookup = {**_KEYS, **{argument: (argument, kind) for argument, kind in _KEYS.values()}}  # short or full name
    for key, value in pairs.items():
        if key not in lookup:
            raise DatasetError(f"synthetic spec: unknown key {key!r}; valid keys: {', '.join(_KEYS)}")
        argument, kind = lookup[key]
        try:
            kwargs[argument] = kind(value)
        except (TypeError, ValueError):
            raise DatasetError(f"synthetic spec: {key}={value!r} is not a valid {kind.__name__}") from None
    return kwargs


def load(path: str | Path, **options: object) -> SkeletonDataset:
    """Generate the synthetic dataset the spec and options describe (deterministic for a seed)."""
    # Imported here: reid.synthetic builds on reid.datasets.base, so a top-level import would be circular
    # whenever reid.synthetic is imported first.
    from reid.synthetic import make_dataset

    return make_dataset(**parse_spec(path, options))
