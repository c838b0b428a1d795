"""Config: defaults, file merge, overrides, unknown keys named by path, values in range, written back."""
import pytest
import yaml

from app.config import ConfigError, dump_config, load_config, save_user_config


def test_defaults_are_the_shipped_values():
    config = load_config(None)
    assert config.model.frames == 6 and config.model.hidden == 256 and config.model.heads == 8
    assert config.loss.head_reduction == "mean" and config.evaluate.protocol == "clean"


def test_official_preset_switches_every_fix_back():
    """app/config/official.yaml reproduces the official code wherever we deviate (README, method notes)."""
    from pathlib import Path

    from app.compose import train_settings

    config = load_config(Path(__file__).resolve().parents[2] / "app" / "config" / "official.yaml")
    settings = train_settings(config)
    assert not config.model.align_heading and config.evaluate.protocol == "legacy"
    assert settings.loss.head_reduction == "legacy" and settings.batch_size == 256
    assert (settings.cluster.unit, settings.cluster.k1, settings.cluster.k2, settings.cluster.eps,
            settings.cluster.min_samples, settings.cluster.normalize) == ("window", 20, 6, 0.6, 2, False)
    defaults = train_settings(load_config(None))
    assert defaults.cluster.unit == "sequence" and load_config(None).model.align_heading


def test_file_then_overrides_merge_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 7\n  lr: 0.001\n")
    config = load_config(path, ["train.epochs=9", "cluster.eps=0.7"])
    assert (config.train.epochs, config.train.lr, config.cluster.eps) == (9, 0.001, 0.7)
    assert config.train.batch_size == 32  # untouched keys keep their defaults


@pytest.mark.parametrize("text", ["off", "on", "inverted"])
def test_yaml_switch_words_are_not_booleans(tmp_path, text):
    assert load_config(None, [f"loss.hsm={text}"]).loss.hsm == text
    path = tmp_path / "c.yaml"
    path.write_text(f"loss:\n  hsm: {text}\n")
    assert load_config(path).loss.hsm == text


@pytest.mark.parametrize("override, message", [
    ("train.epoch=3", "unknown key 'train.epoch'"),
    ("nosuch.key=1", "unknown key 'nosuch'"),
    ("train.epochs=0", "'train.epochs' = 0"),
    ("cluster.eps=1.5", "'cluster.eps' = 1.5"),
    ("train.epochs", "key.sub=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(None, [override])


def test_bad_file_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(path)


def test_effective_config_and_user_settings_round_trip(tmp_path):
    config = load_config(None, ["train.epochs=5"])
    dump_config(config, tmp_path / "run" / "config.yaml")
    assert load_config(tmp_path / "run" / "config.yaml") == config
    saved = save_user_config(config, tmp_path / "user.yaml")
    assert yaml.safe_load(saved.read_text()) == {"train": {"epochs": 5}}  # only what differs from the defaults
    assert load_config(saved) == config
