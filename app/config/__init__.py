"""One YAML config merged over the shipped defaults, with `key.sub=value` overrides.

The defaults are the field defaults of the section models; a user file only names what it changes. Packages
never read this tree: `app/` maps sections to constructor arguments.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from app.config.base import Section
from app.config.capture import BufferConfig, PoseConfig, TrackingConfig
from app.config.pipeline import PipelineConfig
from app.config.ui import UIConfig
from app.config.reid import ClusterConfig, EvaluateConfig, LossConfig, ModelConfig, TrainConfig
from app.config.storage import GalleryConfig, StorageConfig
from reid.errors import SkelwatchError


class ConfigError(SkelwatchError):
    """The config file or an override is malformed or names an unknown key."""


class SkelwatchConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    gallery: GalleryConfig = Field(default_factory=GalleryConfig)
    pose: PoseConfig = Field(default_factory=PoseConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    ui: UIConfig = Field(default_factory=UIConfig)


def home_dir() -> Path:
    """Where skelwatch keeps its database, demo, sessions and user config: `$SKELWATCH_HOME` or `./data`."""
    return Path(os.environ.get("SKELWATCH_HOME", Path(__file__).resolve().parents[2] / "data"))


def default_config_path() -> Path:
    return home_dir() / "config.yaml"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b.c=value` into its key path and YAML-typed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"config override {text!r} is not of the form key.sub=value (for example train.epochs=5)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"config override {text!r}: the value is not valid YAML ({exc})") from None
    return key.strip().split("."), value


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config override: {'.'.join(path)} goes through {part}, which is not a section")
        node = child
    node[path[-1]] = value


def _format_validation(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'")
        else:
            lines.append(f"'{key}' = {err.get('input')!r}: {err['msg']}")
    return f"config ({origin}): " + "; ".join(lines) + ". Run `python main.py config show` to see every key."


def load_config(path: Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SkelwatchConfig:
    """Load the defaults, merge the YAML file at `path` (if it exists) and apply the overrides in order.

    Raises:
        ConfigError: unreadable YAML, an unknown key (named by its dotted path) or a value out of range.
    """
    tree: dict[str, Any] = {}
    origin = "defaults"
    if path is not None and Path(path).exists():
        origin = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(loaded).__name__}")
        tree = loaded or {}
    for text in overrides:
        key_path, value = parse_override(text)
        _set_path(tree, key_path, value)
        origin = f"{origin} + --set"
    try:
        return SkelwatchConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, origin)) from None


def dump_config(config: SkelwatchConfig, path: Path) -> None:
    """Write the effective config as YAML, so a run's outputs say exactly how they were made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


def save_user_config(config: SkelwatchConfig, path: Path | None = None) -> Path:
    """Persist the settings that differ from the defaults (what the GUI's settings dialog changes)."""
    target = path or default_config_path()
    changed = config.model_dump(mode="json", exclude_defaults=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(changed, sort_keys=False), encoding="utf-8")
    return target
