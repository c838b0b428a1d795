"""One YAML config merged over the shipped defaults, with `key.sub=value` overrides.

The defaults are the field defaults of the section models; a user file only names what it changes. Packages
never read this tree: `app/` maps sections to constructor arguments.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from app.config.base import Section
from app.config.capture import BufferConfig, PoseConfig, TrackingConfig
from app.config.pipeline import HandoffConfig, PipelineConfig
from app.config.ui import UIConfig
from app.config.reid import ClusterConfig, EvaluateConfig, LossConfig, ModelConfig, TrainConfig
from app.config.storage import GalleryConfig, StorageConfig
from core.errors import SkelwatchError
from core.paths import home_dir


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
    handoff: HandoffConfig = Field(default_factory=HandoffConfig)
    ui: UIConfig = Field(default_factory=UIConfig)


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
            shown = repr(err.get("input"))
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            lines.append(f"'{key}' = {shown}: {err['msg']}")
    return f"config ({origin}): " + "; ".join(lines) + ". Run `./skelwatch config show` to see every key."


def load_config(path: Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                must_exist: bool = False) -> SkelwatchConfig:
    """Load the defaults, merge the YAML file at `path` (if it exists) and apply the overrides in order.

    Args:
        must_exist: `path` was named by the user (`--config`), so its absence is an error, not the defaults.
    Raises:
        ConfigError: a named file that is missing, unreadable YAML, an unknown key (named by its dotted path) or
            a value out of range.
    """
    if must_exist and path is not None and not Path(path).exists():
        raise ConfigError(f"config file {path} does not exist; name an existing YAML file, or leave out --config "
                          f"to use {default_config_path()} (or the defaults when it is absent)")
    tree: dict[str, Any] = {}
    origin = "defaults"
    if path is not None and Path(path).exists():
        origin = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a folder; pass a YAML file (see `./skelwatch config "
                              "show`)") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read ({exc.strerror}); check its permissions") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not text (not UTF-8); pass a YAML file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
        except RecursionError:
            raise ConfigError(f"config file {path} nests too deeply to be a skelwatch config") from None
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


def with_changes(config: SkelwatchConfig, changes: dict[str, Any]) -> SkelwatchConfig:
    """A new config: `config` with the dotted keys of `changes` set (the one way a running app changes one).

    Raises:
        ConfigError: an unknown key or a value out of range, named by its dotted path.
    """
    tree = config.model_dump()
    for key, value in changes.items():
        _set_path(tree, key.split("."), value)
    try:
        return SkelwatchConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, "change")) from None


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
