"""Unsupervised training: label-blind, deterministic, resumable, and its outputs loadable."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from reid.checkpoint import ModelMeta, load_model
from reid.datasets import load_dataset
from reid.errors import DatasetError
from reid.model import HiMPC
from reid.train import ClusterSettings, TrainSettings, Trainer, dataset_windows

SETTINGS = TrainSettings(epochs=2, batch_size=32, seed=3, patience=5,
                         cluster=ClusterSettings(eps=0.6, min_samples=2, k1=4, k2=2, unit="sequence"))
META = ModelMeta(20, 16, 2, 6, "kinect_v1")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("synthetic:ids=5,seqs=3,frames=60,seed=1")


def _train(dataset, run_dir, settings=SETTINGS, seed=0):
    torch.manual_seed(seed)
    model = HiMPC(20, hidden=16, heads=2, align_heading=True)
    windows, groups = dataset_windows(dataset, 6, 3)
    trainer = Trainer(model, windows, settings, run_dir, META, groups=groups, progress=False)
    trainer.fit()
    return trainer


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_permuting_identity_labels_leaves_weights_bit_identical(dataset, tmp_path):
    trained = _weights(_train(dataset, tmp_path / "a").model)
    rng = np.random.default_rng(0)
    labels = [s.identity for s in dataset.sequences]
    shuffled = [replace(s, identity=labels[j]) for s, j in zip(dataset.sequences, rng.permutation(len(labels)))]
    assert [s.identity for s in shuffled] != labels
    relabelled = replace(dataset, sequences=shuffled)
    again = _weights(_train(relabelled, tmp_path / "b").model)
    assert all(torch.equal(trained[k], again[k]) for k in trained)
    # ...and training did change the weights: the test would notice a no-op trainer.
    torch.manual_seed(0)
    initial = _weights(HiMPC(20, hidden=16, heads=2, align_heading=True))
    assert not all(torch.equal(trained[k], initial[k]) for k in trained)


def test_resume_continues_exactly_where_it_stopped(dataset, tmp_path):
    straight = _train(dataset, tmp_path / "straight", replace(SETTINGS, epochs=3))
    _train(dataset, tmp_path / "split", replace(SETTINGS, epochs=2))
    torch.manual_seed(0)
    windows, groups = dataset_windows(dataset, 6, 3)
    resumed = Trainer(HiMPC(20, hidden=16, heads=2, align_heading=True), windows, replace(SETTINGS, epochs=3),
                      tmp_path / "split", META, groups=groups, progress=False)
    assert resumed.resume() == 2
    resumed.fit()
    a, b = _weights(straight.model), _weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s.loss for s in resumed.history] == [s.loss for s in straight.history]


def test_run_folder_holds_metrics_and_loadable_checkpoints(dataset, tmp_path):
    trainer = _train(dataset, tmp_path / "run")
    run = tmp_path / "run"
    assert len(trainer.history) == 2
    for stats in trainer.history:
        assert min(stats.clusters.values()) >= 2 and stats.kept + stats.outliers == len(trainer.windows)
        assert np.isfinite(stats.loss)
    assert (run / "metrics.json").exists()
    best, meta = load_model(run)
    last, _ = load_model(run / "last")
    assert meta.frames == 6 and meta.num_joints == 20
    state = torch.load(run / "last" / "state.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in last.state_dict().items())


def test_bad_windows_are_refused(tmp_path):
    model = HiMPC(20, hidden=16, heads=2)
    bad = np.zeros((64, 6, 20, 3), np.float32)
    bad[3, 2, 5, 0] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        Trainer(model, bad, SETTINGS, tmp_path, META)
    with pytest.raises(DatasetError, match="fewer than one batch"):
        Trainer(model, np.zeros((5, 6, 20, 3), np.float32), SETTINGS, tmp_path, META)
    with pytest.raises(DatasetError, match=r"\(N, f, 20, 3\)"):
        Trainer(model, np.zeros((64, 6, 25, 3), np.float32), SETTINGS, tmp_path, META)


def test_shuffle_once_keeps_whole_batches_in_one_order(dataset, tmp_path):
    """The official order (train.shuffle=once): one seeded shuffle, the tail beyond whole batches dropped."""
    windows, groups = dataset_windows(dataset, 6, 3)
    settings = replace(SETTINGS, shuffle="once")
    trainer = Trainer(HiMPC(20, hidden=16, heads=2), windows, settings, tmp_path, META, groups=groups,
                      progress=False)
    kept = len(windows) // 32 * 32
    assert kept < len(windows) and trainer.windows.shape[0] == kept and len(trainer.groups) == kept
    order = np.random.default_rng(settings.seed).permutation(len(windows))[:kept]
    np.testing.assert_array_equal(trainer.windows.numpy(), windows[order])
    np.testing.assert_array_equal(trainer.groups, groups[order])
    assert len(trainer.fit()) == 2
