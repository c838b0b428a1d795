"""A skeleton dataset replayed as frames with truth and no images."""
from __future__ import annotations


import numpy as np
import pytest

from capture.buffer import camera_to_model
from capture.sources import SourceError, open_source
from capture.sources.skeleton_file import SkeletonFileSource
from reid.datasets import load_dataset
from tests.shared_data import UCALGARY

SPEC = "synthetic:ids=2,seqs=2,frames=20,seed=5"


def test_sequential_plays_each_sequence_after_the_other_in_the_camera_frame():
    dataset = load_dataset(SPEC)
    with open_source("skeleton:" + SPEC, gap_s=0.5) as source:
        assert not source.has_depth and source.intrinsics is None and not source.is_live
        assert source.fps == pytest.approx(30.0)
        frames = list(source)
    gap = 15
    lengths = [seq.num_frames for seq in dataset.sequences]  # repair may drop a frame or two
    assert len(frames) == sum(lengths) + 3 * gap
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(f.color is None and f.depth_m is None for f in frames)
    start = 0
    for seq in dataset.sequences:
        for t in (0, seq.num_frames - 1):
            (truth,) = frames[start + t].truth
            assert truth.identity == seq.identity
            expected = seq.joints[t] * np.array([-1.0, -1.0, 1.0], np.float32)  # half turn into the camera frame
            np.testing.assert_allclose(truth.joints, expected, atol=1e-6)
        if start + seq.num_frames < len(frames):
            assert frames[start + seq.num_frames].truth == ()  # the gap between people
        start += seq.num_frames + gap
    head_above_hip = [f.truth[0].joints[3, 1] < f.truth[0].joints[0, 1] for f in frames if f.truth]
    assert all(head_above_hip)  # y points down in the camera frame
    model = camera_to_model(frames[0].truth[0].joints)
    np.testing.assert_allclose(model, dataset.sequences[0].joints[0], atol=1e-6)  # the buffer undoes it exactly


def test_parallel_plays_all_at_once_side_by_side():
    dataset = load_dataset(SPEC)
    source = SkeletonFileSource(dataset, arrangement="parallel", spacing_m=2.0)
    longest = max(seq.num_frames for seq in dataset.sequences)
    assert source.num_frames == longest and source.duration_s == pytest.approx(longest / 30)
    frame = source.frame(10)
    assert [t.identity for t in frame.truth] == [s.identity for s in dataset.sequences]
    shifts = [t.joints[0, 0] + s.joints[10, 0, 0] for t, s in zip(frame.truth, dataset.sequences)]  # x negated
    np.testing.assert_allclose(shifts, [-3.0, -1.0, 1.0, 3.0], atol=1e-5)
    source.seek(0.5)
    assert [f.index for f in source] == list(range(15, longest))


def test_bad_dataset_and_arguments():
    with pytest.raises(SourceError, match="skeleton source /no/such/folder"):
        SkeletonFileSource("/no/such/folder")
    with pytest.raises(SourceError, match="arrangement='zigzag'"):
        SkeletonFileSource(SPEC, arrangement="zigzag")
    with pytest.raises(SourceError, match="no sequence to play"):
        SkeletonFileSource(SPEC, sequences=[7])


def test_real_ucalgary_files_play_as_a_stream():
    dataset = load_dataset(UCALGARY)
    source = SkeletonFileSource(dataset, sequences=[0, 1], gap_s=0.0)
    first, second = dataset.sequences[0], dataset.sequences[1]
    assert source.num_frames == first.num_frames + second.num_frames
    frame = source.frame(first.num_frames)  # the first frame of the second sequence
    (truth,) = frame.truth
    assert truth.identity == second.identity
    np.testing.assert_allclose(camera_to_model(truth.joints), second.joints[0], atol=1e-6)
    assert truth.joints[3, 1] < truth.joints[0, 1]  # head above hip centre: y down
