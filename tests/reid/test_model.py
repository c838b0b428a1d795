"""The Hi-MPC network: parameter count from the spec's arithmetic, shapes, TAP and MSMR definitions."""
import pytest
import torch

from reid.errors import SkeletonError
from reid.levels import LEVELS
from reid.model import HiMPC


def test_parameter_count_matches_spec_arithmetic():
    # Spec §2.4: encoders 225,024 (20 joints) + heads 3 x 8 x 256^2 = 1,572,864.
    model = HiMPC(num_joints=20, hidden=256, heads=8)
    encoders = sum(p.numel() for p in model.encoders.parameters())
    heads = sum(p.numel() for p in model.heads.parameters())
    assert encoders == 225_024
    assert heads == 1_572_864
    assert sum(p.numel() for p in model.parameters()) == 1_797_888


@pytest.mark.parametrize("num_joints, encoder_params", [(25, 228_864), (14, 220_416)])
def test_encoder_size_for_benchmark_layouts(num_joints, encoder_params):
    model = HiMPC(num_joints=num_joints)
    assert sum(p.numel() for p in model.encoders.parameters()) == encoder_params


def test_tap_is_the_frame_mean_and_frames_are_encoded_independently():
    torch.manual_seed(0)
    model = HiMPC(hidden=32, heads=2)
    x = torch.randn(3, 5, 20, 3)
    out = model(x)
    for level in LEVELS:
        assert out.frame[level].shape == (3, 5, 32)
        torch.testing.assert_close(out.seq[level], out.frame[level].mean(dim=1))
    # Shuffling frames permutes frame features and leaves the instance unchanged: no temporal layer.
    perm = torch.tensor([4, 2, 0, 1, 3])
    shuffled = model(x[:, perm])
    torch.testing.assert_close(shuffled.frame["joint"], out.frame["joint"][:, perm])
    torch.testing.assert_close(shuffled.seq["limb"], out.seq["limb"], atol=1e-5, rtol=1e-5)


def test_msmr_concatenates_head_averaged_meta_instances():
    torch.manual_seed(1)
    model = HiMPC(hidden=16, heads=3)
    x = torch.randn(4, 6, 20, 3)
    out = model(x)
    expected = torch.cat([out.seq[lvl] @ model.heads[lvl].mean(0) for lvl in LEVELS], dim=1)
    torch.testing.assert_close(model.msmr(x), expected)
    assert model.encode(x, batch_size=3).shape == (4, 48)


def test_component_node_is_the_mean_of_its_joints():
    model = HiMPC(hidden=8, heads=1)
    x = torch.zeros(1, 1, 20, 3)
    x[0, 0, 12] = torch.tensor([1.0, 2.0, 3.0])  # HipLeft
    x[0, 0, 13] = torch.tensor([3.0, 4.0, 5.0])  # KneeLeft -> left_leg_up = (2, 3, 4)
    nodes = torch.einsum("gv,...vd->...gd", model.pool_component, x)
    torch.testing.assert_close(nodes[0, 0, 0], torch.tensor([2.0, 3.0, 4.0]))


def test_wrong_joint_count_is_a_clear_error():
    with pytest.raises(SkeletonError, match=r"\(batch, frames, 20, 3\)"):
        HiMPC(hidden=8, heads=1)(torch.zeros(2, 6, 25, 3))


def test_cached_head_average_follows_weight_updates():
    torch.manual_seed(2)
    model = HiMPC(hidden=8, heads=2)
    x = torch.randn(2, 6, 20, 3)
    before = model.encode(x)
    torch.testing.assert_close(model.encode(x), before)  # served from the cache
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.msmr(x).sum().backward()
    optimizer.step()
    with torch.no_grad():
        expected = torch.cat([model(x).seq[lvl] @ model.heads[lvl].mean(0) for lvl in LEVELS], dim=1)
    torch.testing.assert_close(model.encode(x), expected)
    assert not torch.allclose(model.encode(x), before)


def test_shape_term_appends_weighted_mean_bone_lengths():
    """With a shape weight the embedding is [MSMR, w * mean bone lengths]: Euclidean distance on it is
    sqrt(d_MSMR² + w² d_bones²); the folded inference path and the autograd path agree."""
    from reid.baseline import SHAPE_BONES

    torch.manual_seed(2)
    plain, shaped = HiMPC(hidden=16, heads=2), HiMPC(hidden=16, heads=2, shape_weight=50.0)
    shaped.load_state_dict(plain.state_dict())
    x = torch.randn(5, 6, 20, 3)
    out = shaped.encode(x, batch_size=2)
    assert out.shape == (5, 48 + len(SHAPE_BONES)) and shaped.msmr_dim == 48 + len(SHAPE_BONES)
    torch.testing.assert_close(out[:, :48], plain.encode(x), atol=1e-5, rtol=1e-5)
    lengths = torch.stack([(x[:, :, c] - x[:, :, p]).norm(dim=-1).mean(dim=1) for p, c in SHAPE_BONES], dim=1)
    torch.testing.assert_close(out[:, 48:], 50.0 * lengths)
    torch.testing.assert_close(shaped.msmr(x), out, atol=1e-5, rtol=1e-5)
    with pytest.raises(SkeletonError, match="canonical 20-joint layout"):
        HiMPC(num_joints=25, shape_weight=1.0)
