"""View normalisation (reid.heading): one facing direction whatever the heading, nothing else changed."""
import math

import numpy as np
import pytest
import torch

from reid.errors import SkeletonError
from reid.heading import LATERAL_JOINTS, align_heading
from reid.model import HiMPC
from reid.skeleton import root_centre
from reid.synthetic import make_dataset
from reid.windows import make_windows


def turn(windows: torch.Tensor, angle: float) -> torch.Tensor:
    """Turn (B, f, V, 3) windows by `angle` radians about y."""
    c, s = math.cos(angle), math.sin(angle)
    x, y, z = windows.unbind(-1)
    return torch.stack((c * x - s * z, y, s * x + c * z), dim=-1)


@pytest.fixture(scope="module")
def windows() -> torch.Tensor:
    dataset = make_dataset(n_identities=3, sequences_per_identity=2, frames=30, seed=5)
    return torch.from_numpy(make_windows(dataset.sequences, 6).data)


def test_any_heading_gives_the_same_aligned_window(windows):
    aligned = align_heading(windows)
    for angle in (0.3, 1.7, math.pi, -2.4):
        torch.testing.assert_close(align_heading(turn(windows, angle)), aligned, atol=1e-5, rtol=0)
    left, right = LATERAL_JOINTS[20]
    lateral = (aligned[:, :, list(right)] - aligned[:, :, list(left)]).sum(2).mean(1)
    assert (lateral[:, 0] > 0).all() and lateral[:, 2].abs().max() < 1e-5  # the person's right is +x


def test_alignment_is_a_rigid_turn_about_the_vertical(windows):
    aligned = align_heading(windows)
    torch.testing.assert_close(aligned[..., 1], windows[..., 1])  # heights untouched
    # One turn per window: every distance between two joints of any two frames of a window is kept.
    def pairwise(w):
        flat = w.flatten(1, 2)
        return torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")
    torch.testing.assert_close(pairwise(aligned), pairwise(windows), atol=1e-5, rtol=0)


def test_other_layouts_and_degenerate_windows():
    rng = np.random.default_rng(0)
    for joints in (25, 14):
        w = torch.from_numpy(root_centre(rng.normal(size=(4, 6, joints, 3))).astype(np.float32))
        torch.testing.assert_close(align_heading(turn(w, 0.9)), align_heading(w), atol=1e-5, rtol=0)
    flat = torch.zeros(2, 6, 20, 3)
    assert torch.equal(align_heading(flat), flat)
    with pytest.raises(SkeletonError, match="18 joints"):
        align_heading(torch.zeros(1, 6, 18, 3))


def test_model_with_alignment_ignores_the_heading(windows):
    torch.manual_seed(0)
    aligned_model = HiMPC(20, hidden=32, heads=2, align_heading=True)
    plain_model = HiMPC(20, hidden=32, heads=2)
    plain_model.load_state_dict(aligned_model.state_dict())
    turned = turn(windows, 2.0)
    torch.testing.assert_close(aligned_model.encode(turned), aligned_model.encode(windows), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(plain_model.encode(turned), plain_model.encode(windows), atol=1e-2)
    # The training path (per-frame features) sees the same aligned input as the fast inference path.
    with torch.no_grad():
        seq = aligned_model(turned).seq
        means = aligned_model.mean_heads()
        slow = torch.cat([seq[lvl] @ means[lvl] for lvl in ("joint", "component", "limb")], -1)
    torch.testing.assert_close(slow, aligned_model.encode(windows), atol=1e-4, rtol=1e-4)
