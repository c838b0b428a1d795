"""Windows: counts, offsets, root centring, too-short sequences, labels."""
import numpy as np
import pytest

from reid.datasets import Sequence
from reid.errors import DatasetError
from reid.windows import make_windows, window_identities, window_starts


def ramp(frames: int, joints: int = 20, offset: float = 0.0) -> np.ndarray:
    """(T, V, 3) where joint v in frame t is at (t + offset, v, 2v): easy to check after slicing and centring."""
    t = np.arange(frames, dtype=np.float32)[:, None] + offset
    v = np.arange(joints, dtype=np.float32)[None, :]
    return np.stack([t + 0 * v, 0 * t + v, 0 * t + 2 * v], axis=-1)


def test_non_overlapping_windows_count_and_centre():
    seqs = [Sequence(ramp(20), "a", "a/1"), Sequence(ramp(13, offset=5.0), "b", "b/1")]
    w = make_windows(seqs, frames=6, stride=6)
    assert w.data.shape == (3 + 2, 6, 20, 3) and w.data.dtype == np.float32
    np.testing.assert_array_equal(w.sequence_index, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(w.start, [0, 6, 12, 0, 6])
    # Root-centred per frame: joint 0 is the origin, joint v is at (0, v, 2v) in every frame.
    np.testing.assert_array_equal(w.data[:, :, 0], 0.0)
    np.testing.assert_allclose(w.data[2, 3, 7], [0.0, 7.0, 14.0])
    assert w.too_short == ()
    np.testing.assert_array_equal(window_identities(w, seqs), ["a", "a", "a", "b", "b"])


def test_overlapping_stride_and_default_stride():
    seqs = [Sequence(ramp(10), "a", "a/1")]
    assert len(make_windows(seqs, 4, 1)) == 7
    assert len(make_windows(seqs, 4, 3)) == 3  # starts 0, 3, 6
    assert len(make_windows(seqs, 4)) == 2  # stride defaults to f
    np.testing.assert_array_equal(window_starts(10, 4, 3), [0, 3, 6])


def test_window_slices_the_right_frames():
    joints = ramp(30) + np.random.default_rng(0).normal(size=(30, 20, 3)).astype(np.float32)
    w = make_windows([Sequence(joints, "a", "a/1")], 5, 7)
    for n, start in enumerate(w.start):
        expected = joints[start:start + 5] - joints[start:start + 5, :1]
        np.testing.assert_allclose(w.data[n], expected, atol=1e-6)


def test_short_sequences_give_no_window_and_are_counted():
    seqs = [Sequence(ramp(3), "a", "a/1"), Sequence(ramp(8), "b", "b/1"), Sequence(ramp(5), "c", "c/1")]
    w = make_windows(seqs, 6, 6)
    assert len(w) == 1 and w.too_short == (0, 2)
    empty = make_windows([seqs[0]], 6, 6)
    assert empty.data.shape == (0, 6, 20, 3) and empty.too_short == (0,)


def test_other_root_and_joint_counts():
    w = make_windows([Sequence(ramp(6, joints=14), "a", "a/1")], 6, 6, root=3)
    np.testing.assert_array_equal(w.data[:, :, 3], 0.0)
    assert w.data.shape == (1, 6, 14, 3)


def test_bad_arguments_are_errors():
    seqs = [Sequence(ramp(10), "a", "a/1"), Sequence(ramp(10, joints=25), "b", "b/1")]
    with pytest.raises(DatasetError, match="different joint counts"):
        make_windows(seqs, 4, 4)
    with pytest.raises(DatasetError, match="frames=0"):
        make_windows(seqs[:1], 0, 1)
    with pytest.raises(DatasetError, match="stride=0"):
        make_windows(seqs[:1], 4, 0)
