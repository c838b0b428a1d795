"""The one place where config sections become constructor arguments of the packages (which never read config)."""
from __future__ import annotations

from app.config import SkelwatchConfig
from reid.loss import LossSettings
from reid.train import ClusterSettings, TrainSettings


def loss_settings(config: SkelwatchConfig) -> LossSettings:
    return LossSettings(**config.loss.model_dump())


def cluster_settings(config: SkelwatchConfig) -> ClusterSettings:
    return ClusterSettings(**config.cluster.model_dump())


def train_settings(config: SkelwatchConfig) -> TrainSettings:
    t = config.train
    return TrainSettings(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, seed=t.seed, patience=t.patience,
                         selection=t.selection, shuffle=t.shuffle, device=t.device, loss=loss_settings(config),
                         cluster=cluster_settings(config))
