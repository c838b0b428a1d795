"""The meta-prototype contrastive loss with HSM, against a hand-worked case and a plain loop reference."""
import itertools
import math

import pytest
import torch

from reid.levels import LEVELS
from reid.loss import LossSettings, himpc_loss, level_head_losses
from reid.model import HiMPC


def _unit_model() -> HiMPC:
    model = HiMPC(hidden=1, heads=1)
    with torch.no_grad():
        for level in LEVELS:
            model.heads[level].fill_(1.0)
    return model


# Hand-worked case: H = 1 (scale 1), one head W = [[1]], frames s = (1, 3), TAP 2, prototypes (2, -1), label 0.
# Frame logits: (2, -1) and (6, -3). Window prediction argmax(2*2, 2*-1) = 0 = label, so sign = -1.
# Frame scores e = (2, 6); CE: log(1 + e^-3) = 0.0485874, log(1 + e^-9) = 0.0001234.
CE = (math.log1p(math.exp(-3)), math.log1p(math.exp(-9)))
ALPHA_ON = (1 / (1 + math.exp(-4)), math.exp(-4) / (1 + math.exp(-4)))  # softmax(-e): the hard frame 1 dominates


@pytest.mark.parametrize("hsm, expected", [
    ("on", ALPHA_ON[0] * CE[0] + ALPHA_ON[1] * CE[1]),   # 0.047716
    ("inverted", ALPHA_ON[1] * CE[0] + ALPHA_ON[0] * CE[1]),  # 0.000995
    ("off", (CE[0] + CE[1]) / 2),                      # 0.024355
])
def test_hand_worked_case(hsm, expected):
    model = _unit_model()
    frame = torch.tensor([[[1.0], [3.0]]])
    loss = level_head_losses(model, "joint", frame, frame.mean(1), torch.tensor([[2.0], [-1.0]]),
                             torch.tensor([0]), LossSettings(hsm=hsm))
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(expected, rel=1e-4)


def test_hsm_off_legacy_sums_frames():
    model = _unit_model()
    frame = torch.tensor([[[1.0], [3.0]]])
    loss = level_head_losses(model, "joint", frame, frame.mean(1), torch.tensor([[2.0], [-1.0]]),
                             torch.tensor([0]), LossSettings(hsm="off", head_reduction="legacy"))
    assert loss.item() == pytest.approx(CE[0] + CE[1], rel=1e-5)


def _reference_level(frame, protos, labels, heads, settings):
    """Spec §1.6-1.7 with Python loops over heads, windows and frames: returns per-head losses."""
    m_heads, hidden = heads.shape[0], heads.shape[1]
    b_count, f_count, _ = frame.shape
    out = []
    for m in range(m_heads):
        w = heads[m].tolist()
        mul = lambda v: [sum(v[i] * w[i][j] for i in range(hidden)) for j in range(hidden)]  # noqa: E731
        dot = lambda a, b: sum(x * y for x, y in zip(a, b)) / math.sqrt(hidden)  # noqa: E731
        p = [mul(c) for c in protos.tolist()]
        total = 0.0
        for b in range(b_count):
            z = [mul(frame[b, t].tolist()) for t in range(f_count)]
            zb = mul(frame[b].mean(0).tolist())
            seq_scores = [dot(zb, pk) for pk in p]
            pred = max(range(len(p)), key=lambda k: seq_scores[k])
            logits = [[dot(z[t], pk) for pk in p] for t in range(f_count)]
            e = [logits[t][pred] for t in range(f_count)]
            sign = -1.0 if pred == labels[b] else 1.0
            if settings.hsm == "inverted":
                sign = -sign
            if settings.hsm == "off":
                alpha = [1.0 if settings.head_reduction == "legacy" else 1.0 / f_count] * f_count
            else:
                ex = [math.exp(sign * v - max(sign * u for u in e)) for v in e]
                alpha = [v / sum(ex) for v in ex]
            for t in range(f_count):
                mx = max(logits[t])
                lse = mx + math.log(sum(math.exp(v - mx) for v in logits[t]))
                total += alpha[t] * (lse - logits[t][labels[b]])
        out.append(total / b_count)
    return out


@pytest.mark.parametrize("hsm, reduction", list(itertools.product(["on", "off", "inverted"], ["mean", "legacy"])))
def test_matches_loop_reference(hsm, reduction):
    torch.manual_seed(3)
    model = HiMPC(hidden=4, heads=3)
    with torch.no_grad():
        for level in LEVELS:
            model.heads[level].mul_(0.5)
    settings = LossSettings(hsm=hsm, head_reduction=reduction)
    frame = {lvl: torch.randn(5, 4, 4) for lvl in LEVELS}
    protos = {lvl: torch.randn(3, 4) for lvl in LEVELS}
    labels = {lvl: torch.tensor([0, 1, 2, 1, 0]) for lvl in LEVELS}
    from reid.model import HiMPCOutput
    output = HiMPCOutput(frame=frame, seq={lvl: f.mean(1) for lvl, f in frame.items()})
    got = himpc_loss(model, output, protos, labels, settings)
    expected_levels = {}
    for level in LEVELS:
        heads = _reference_level(frame[level], protos[level], labels[level].tolist(), model.heads[level].detach(),
                                 settings)
        legacy_sum = reduction == "legacy" and level == "joint"
        expected_levels[level] = sum(heads) if legacy_sum else sum(heads) / len(heads)
        assert got.per_level[level] == pytest.approx(expected_levels[level], rel=1e-4)
    assert got.total.item() == pytest.approx(sum(expected_levels.values()) / 3, rel=1e-4)


def test_detach_changes_gradients_not_values():
    torch.manual_seed(4)
    frame = torch.randn(3, 4, 8)
    protos, labels = torch.randn(2, 8), torch.tensor([0, 1, 1])
    grads, values = [], []
    for detach in (False, True):
        torch.manual_seed(5)
        model = HiMPC(hidden=8, heads=2)
        loss = level_head_losses(model, "joint", frame, frame.mean(1), protos, labels,
                                 LossSettings(detach_importance=detach)).mean()
        loss.backward()
        values.append(loss.item())
        grads.append(model.heads["joint"].grad.clone())
    assert values[0] == pytest.approx(values[1])
    assert not torch.allclose(grads[0], grads[1])


def test_bad_switch_is_rejected():
    with pytest.raises(ValueError, match="hsm"):
        LossSettings(hsm="maybe")
