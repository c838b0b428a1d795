"""Hierarchical meta-prototype contrastive loss with hard skeleton mining (spec §1.5-1.7).

Every frame of a window is contrasted, in each meta head, against all meta-prototypes of its level, and frames
are weighted by their informative importance α. Three switches make the official code's choices reproducible
(spec §4.5, §6): `hsm` (on / off / inverted), `detach_importance`, and `head_reduction` ("mean": each level is
averaged over heads and, with HSM off, over frames; "legacy": the joint level summed over heads, frames summed
when HSM is off, as the official code does).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from reid.levels import LEVELS
from reid.model import HiMPC, HiMPCOutput, similarity_scale


@dataclass(frozen=True)
class LossSettings:
    hsm: Literal["on", "off", "inverted"] = "on"
    detach_importance: bool = False
    head_reduction: Literal["mean", "legacy"] = "mean"

    def __post_init__(self) -> None:
        if self.hsm not in ("on", "off", "inverted"):
            raise ValueError(f"hsm must be 'on', 'off' or 'inverted', got {self.hsm!r}")
        if self.head_reduction not in ("mean", "legacy"):
            raise ValueError(f"head_reduction must be 'mean' or 'legacy', got {self.head_reduction!r}")


@dataclass(frozen=True)
class LossOutput:
    total: Tensor                 # scalar to minimise
    per_level: dict[str, float]   # each level's loss after head reduction, for logging


def importance(scores: Tensor, correct: Tensor, settings: LossSettings) -> Tensor:
    """HSM weights α over frames (spec §1.6).

    Args:
        scores: (M, B, f) similarity of each frame to its window's predicted meta-prototype.
        correct: (M, B) bool, whether the predicted prototype is the pseudo-label.
    Returns:
        (M, B, f) weights; each window's weights sum to 1 (HSM on/inverted, or off with "mean"), or are all 1
        (HSM off with "legacy").
    """
    if settings.hsm == "off":
        frames = scores.shape[-1]
        fill = 1.0 if settings.head_reduction == "legacy" else 1.0 / frames
        return torch.full_like(scores, fill)
    # Correct prediction: attend to frames far from their prototype (hard); wrong: to frames near the wrong one.
    sign = torch.where(correct, -1.0, 1.0).unsqueeze(-1)
    if settings.hsm == "inverted":
        sign = -sign
    alpha = torch.softmax(sign * scores, dim=-1)
    return alpha.detach() if settings.detach_importance else alpha


def level_head_losses(model: HiMPC, level: str, frame: Tensor, seq: Tensor, prototypes: Tensor, labels: Tensor,
                      settings: LossSettings) -> Tensor:
    """Per-head loss L_m of one level: (M,).

    Args:
        frame: (B, f, H) frame features; seq: (B, H) sequence instances.
        prototypes: (K, H) fixed cluster means of this level; labels: (B,) pseudo-labels in [0, K).
    """
    scale = similarity_scale(model.hidden)
    p = model.meta(level, prototypes)  # (M, K, H) meta-prototypes
    # <s W_m, p_k> = <s, W_m p_k>: contracting the prototypes back through the head avoids materialising the
    # (M, B, f, H) meta-instances, which is ~3x fewer multiply-adds for the same logits.
    back = torch.einsum("mhj,mkj->mkh", model.heads[level], p)  # (M, K, H)
    logits = torch.einsum("bfh,mkh->mbfk", frame, back) / scale  # (M, B, f, K)
    predicted = torch.einsum("bh,mkh->mbk", seq, back).argmax(dim=-1)  # (M, B)
    index = predicted[..., None, None].expand(*logits.shape[:3], 1)
    scores = logits.gather(-1, index).squeeze(-1)  # (M, B, f)
    alpha = importance(scores, predicted == labels, settings)
    m, b, f, k = logits.shape
    ce = F.cross_entropy(logits.reshape(-1, k), labels.repeat_interleave(f).repeat(m), reduction="none")
    return (alpha * ce.view(m, b, f)).sum(dim=-1).mean(dim=-1)


def himpc_loss(model: HiMPC, output: HiMPCOutput, prototypes: dict[str, Tensor], labels: dict[str, Tensor],
               settings: LossSettings) -> LossOutput:
    """L_total = mean over levels of the head-reduced level losses (spec §1.7).

    Raises:
        KeyError: a level without prototypes or labels (every level is trained; an unclaimed output is a bug).
    """
    per_level: dict[str, Tensor] = {}
    for level in LEVELS:
        heads = level_head_losses(model, level, output.frame[level], output.seq[level], prototypes[level],
                                  labels[level], settings)
        legacy_sum = settings.head_reduction == "legacy" and level == "joint"
        per_level[level] = heads.sum() if legacy_sum else heads.mean()
    total = torch.stack(list(per_level.values())).mean()
    return LossOutput(total=total, per_level={lvl: float(v.detach()) for lvl, v in per_level.items()})
