"""Accuracy that must hold, on people the models never saw: learning beats not learning.

Generated walkers (small sets: inference in seconds, training in well under a minute, so the margins are wide)
and the real UCalgary skeletons the shipped model never trained on; the full tables are in the README.
"""
from pathlib import Path

import pytest
import torch

from reid.baseline import bone_length_features
from reid.checkpoint import ModelMeta, load_model
from reid.datasets import load_dataset
from reid.model import HiMPC
from reid.protocol import evaluate_dataset, model_features
from reid.train import ClusterSettings, Trainer, TrainSettings, dataset_windows
from tests.shared_data import UCALGARY

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "default"
# The shipped model on UCalgary (README, Accuracy), (Rank-1, mAP) per probe set, measured 71.4 / 35.9 and
# 68.6 / 34.8; the floors sit a little below.
UCALGARY_FLOORS = {"normal": (70.0, 34.5), "limp": (67.0, 33.5)}


def scores(features, dataset) -> tuple[float, float]:
    normal = evaluate_dataset(features, dataset, 6, probe_sets=["normal"])["normal"]
    return normal.rank1, normal.mAP


@pytest.fixture(scope="module")
def unseen():
    return load_dataset("synthetic:ids=10,seqs=4,frames=90,limp=1,seed=21")


def test_shipped_model_beats_bone_lengths_and_its_random_init_on_unseen_people(unseen):
    model, meta = load_model(SHIPPED)
    assert meta.align_heading and meta.accept_distance and meta.accept_distance > 0 and meta.shape_weight > 0
    ours = scores(model_features(model), unseen)
    bones = scores(bone_length_features, unseen)
    torch.manual_seed(0)
    untrained = scores(model_features(HiMPC(20, meta.hidden, meta.heads, align_heading=True)), unseen)
    assert ours[0] > bones[0] + 5 and ours[1] > bones[1] + 5  # Rank-1 and mAP in percent
    assert ours[0] > untrained[0] + 5 and ours[1] > untrained[1] + 20


def test_shipped_model_beats_the_best_training_free_baseline_on_real_people():
    """UCalgary was never trained on: the shipped model must still beat bone lengths on Rank-1 and mAP."""
    dataset = load_dataset(UCALGARY)
    model, _ = load_model(SHIPPED)
    ours = evaluate_dataset(model_features(model), dataset, 6)
    bones = evaluate_dataset(bone_length_features, dataset, 6)
    for name, (rank1, m_ap) in UCALGARY_FLOORS.items():
        assert ours[name].rank1 >= rank1 and ours[name].mAP >= m_ap, (name, ours[name])
        assert ours[name].rank1 > bones[name].rank1 + 5 and ours[name].mAP > bones[name].mAP + 3


def test_training_without_labels_learns_people(unseen, tmp_path):
    """A short unsupervised run on the unseen walkers lifts mAP far above the encoder it started from."""
    torch.manual_seed(0)
    model = HiMPC(20, hidden=256, heads=8, align_heading=True)
    before = scores(model_features(model), unseen)
    windows, groups = dataset_windows(unseen, 6, 3)
    settings = TrainSettings(epochs=8, batch_size=32, selection="last",
                             cluster=ClusterSettings(eps=0.45, min_samples=1, k1=6, k2=2, unit="sequence"))
    Trainer(model, windows, settings, tmp_path, ModelMeta(20, 256, 8, 6, "kinect_v1"), groups=groups,
            progress=False).fit()
    after = scores(model_features(model), unseen)
    assert after[1] > before[1] + 8 and after[0] >= before[0]
