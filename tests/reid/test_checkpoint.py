"""Checkpoints round-trip bit-exactly and refuse other layouts, versions and corrupt files with clear errors."""
import json

import pytest
import torch

from reid.checkpoint import META_FILE, WEIGHTS_FILE, ModelMeta, load_model, save_model
from reid.errors import CheckpointError
from reid.model import HiMPC


def _save(tmp_path, num_joints=20):
    torch.manual_seed(0)
    model = HiMPC(num_joints=num_joints, hidden=16, heads=2)
    meta = save_model(tmp_path / "ck", model, ModelMeta(num_joints, 16, 2, 6, "kinect_v1"))
    return model, meta


def test_round_trip_is_bit_exact_and_versioned(tmp_path):
    model, meta = _save(tmp_path)
    loaded, meta2 = load_model(tmp_path / "ck")
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert meta2.model_version == meta.model_version and len(meta.model_version) == 16
    # The weights load without running code, as safetensors; the run-folder form resolves best/.
    (tmp_path / "run").mkdir()
    (tmp_path / "ck").rename(tmp_path / "run" / "best")
    assert load_model(tmp_path / "run")[1].model_version == meta.model_version


def test_version_changes_with_the_weights(tmp_path):
    model, meta = _save(tmp_path)
    with torch.no_grad():
        model.heads["joint"][0, 0, 0] += 1.0
    other = save_model(tmp_path / "ck2", model, ModelMeta(20, 16, 2, 6, "kinect_v1"))
    assert other.model_version != meta.model_version


def test_heading_alignment_is_part_of_the_model(tmp_path):
    """Same weights with the view normalisation on: another function, so another version, and it loads back on."""
    model, meta = _save(tmp_path)
    model.align_heading = True
    aligned = save_model(tmp_path / "ck2", model, ModelMeta(20, 16, 2, 6, "kinect_v1"))
    assert aligned.align_heading and not meta.align_heading
    assert aligned.model_version != meta.model_version
    assert load_model(tmp_path / "ck2")[0].align_heading and not load_model(tmp_path / "ck")[0].align_heading


def test_other_layout_is_refused(tmp_path):
    _save(tmp_path, num_joints=25)
    with pytest.raises(CheckpointError, match="25-joint .* data has 20 joints"):
        load_model(tmp_path / "ck", expect_joints=20)


def test_other_format_version_is_refused(tmp_path):
    _save(tmp_path)
    meta_path = tmp_path / "ck" / META_FILE
    raw = json.loads(meta_path.read_text())
    raw["format_version"] = 99
    meta_path.write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="format 99"):
        load_model(tmp_path / "ck")


def test_corrupt_weights_and_missing_folder(tmp_path):
    _save(tmp_path)
    weights = tmp_path / "ck" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        load_model(tmp_path / "nothing")


def test_shape_weight_is_part_of_the_model(tmp_path):
    """The body-shape term changes the function: it is stored, loads back on, and gives another version."""
    model, meta = _save(tmp_path)
    shaped = HiMPC(num_joints=20, hidden=16, heads=2, shape_weight=140.0)
    shaped.load_state_dict(model.state_dict())
    other = save_model(tmp_path / "shaped", shaped, ModelMeta(20, 16, 2, 6, "kinect_v1"))
    assert other.shape_weight == 140.0 and other.model_version != meta.model_version
    loaded, meta2 = load_model(tmp_path / "shaped")
    assert loaded.shape_weight == 140.0 and meta2.model_version == other.model_version
    x = torch.randn(3, 6, 20, 3)
    torch.testing.assert_close(loaded.encode(x), shaped.encode(x))
