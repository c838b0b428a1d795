"""Config sections of the Hi-MPC method: model, loss, clustering, training and evaluation (spec §1)."""
from typing import Literal

from pydantic import Field, field_validator

from app.config.base import Section, TorchDevice


class ModelConfig(Section):
    frames: int = Field(6, ge=2, le=120, description="Frames f in one skeleton window (spec §1.1).")
    hidden: int = Field(256, ge=8, le=4096, description="Encoder width H (spec §1.3).")
    heads: int = Field(8, ge=1, le=64, description="Meta-transformation heads M per level (spec §1.5).")
    align_heading: bool = Field(
        True, description="Turn each window to one facing direction before encoding, so people are compared "
        "whatever way they walk (reid/heading.py). false: the official code's raw input.")


class LossConfig(Section):
    hsm: Literal["on", "off", "inverted"] = Field(
        "on", description="Hard skeleton mining: on (focus on hard frames), off (uniform), inverted (easy frames).")

    @field_validator("hsm", mode="before")
    @classmethod
    def _yaml_switch(cls, value: object) -> object:
        # YAML 1.1 reads a bare `on`/`off` as a boolean; take it as the word the user typed.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    detach_importance: bool = Field(
        False, description="Stop gradients through the HSM importance weights (the official code does not).")
    head_reduction: Literal["mean", "legacy"] = Field(
        "mean", description="mean: every level averaged over heads. legacy: the official code's joint-level sum.")


class ClusterConfig(Section):
    eps: float = Field(0.45, gt=0.0, lt=1.0, description="DBSCAN radius on the Jaccard distance (spec: 0.6-0.8).")
    min_samples: int = Field(
        1, ge=1, description="DBSCAN core-point neighbourhood size (spec: 2). 1: a track that matches no other is "
        "its own pseudo-identity instead of an outlier, so every walk teaches the encoder.")
    k1: int = Field(6, ge=2, description="k-reciprocal neighbourhood size (spec: 20, for windows).")
    k2: int = Field(2, ge=1, description="Local query expansion size (spec: 6, for windows).")
    normalize: bool = Field(
        True, description="L2-normalise features before the Jaccard distance (the official code does not).")
    unit: Literal["sequence", "window"] = Field(
        "sequence", description="What is clustered: sequence (each track's mean feature; its windows share the "
        "pseudo-label) or window (each window alone, the official code; then use k1=20, k2=6, eps=0.6).")


class TrainConfig(Section):
    epochs: int = Field(50, ge=1, le=15000, description="Maximum number of epochs.")
    batch_size: int = Field(
        32, ge=2, description="Windows per optimiser step; the last partial batch is dropped. The official 256 "
        "gives a site's few thousand windows only ~15 steps an epoch; 32 learns far faster (README, accuracy).")
    lr: float = Field(3.5e-4, gt=0.0, description="Adam learning rate.")
    seed: int = Field(0, description="Seed for initialisation and window order; training is deterministic.")
    patience: int = Field(15, ge=1, description="Epochs without a better selection score before stopping.")
    selection: Literal["label-free", "last"] = Field(
        "label-free", description="Model selection: a label-free cluster-quality score, or simply the last epoch.")
    shuffle: Literal["epoch", "once"] = Field(
        "epoch", description="epoch: the windows in a new order every epoch, all of them clustered. once: the "
        "official code, one seeded shuffle before training and the tail beyond a multiple of batch_size dropped.")
    stride: int = Field(3, ge=1, description="Stride in frames between training windows.")
    device: TorchDevice = Field("cpu", description="Torch device; CPU always works.")
    threads: int = Field(2, ge=1, le=256, description="CPU threads torch may use.")


class EvaluateConfig(Section):
    protocol: Literal["clean", "legacy"] = Field(
        "clean", description="clean: whole probe and gallery, no self-matches. legacy: the official code (spec §4.3-4.4).")
