"""The OpenCV video source on the shared pedestrian clip, and its errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from capture.sources import SourceError, open_source
from capture.sources.video import VideoSource, assumed_intrinsics
from tests.shared_data import VTEST



def test_first_frames_of_vtest():
    with open_source(str(VTEST)) as source:
        assert isinstance(source, VideoSource)
        assert not source.is_live and not source.has_depth
        assert source.fps == pytest.approx(10.0)
        assert source.duration_s == pytest.approx(79.5)
        intr = source.intrinsics
        assert (intr.width, intr.height) == (768, 576)
        assert intr.fx == pytest.approx(384.0 / math.tan(math.radians(30.0)))
        frames = [f for f, _ in zip(source, range(5))]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    for f in frames:
        assert f.color.shape == (576, 768, 3) and f.color.dtype == np.uint8
        assert f.depth_m is None and f.truth == ()
    assert not np.array_equal(frames[0].color, frames[4].color)  # people move


def test_seek_lands_on_the_same_frame_as_reading_through():
    with VideoSource(VTEST) as source:
        through = [f for f, _ in zip(source, range(13))]
        source.seek(1.2)
        frame = next(iter(source))
    assert frame.index == 12
    assert np.array_equal(frame.color, through[12].color)


def test_undecodable_and_missing_files(tmp_path):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    with pytest.raises(SourceError, match="junk.avi: cannot read a frame.*ffmpeg"):
        VideoSource(junk)
    with pytest.raises(SourceError, match="does not exist"):
        open_source(str(tmp_path / "none.mp4"))


def test_assumed_intrinsics_and_bad_fov():
    intr = assumed_intrinsics(640, 480, 90.0)
    assert intr.fx == pytest.approx(320.0) and intr.fy == intr.fx
    assert (intr.cx, intr.cy) == (319.5, 239.5)
    with pytest.raises(SourceError, match="hfov_deg"):
        assumed_intrinsics(640, 480, 0.0)


def test_unknown_spec_lists_the_valid_sources():
    with pytest.raises(SourceError, match="realsense, kinect, webcam, video, skeleton, synthetic"):
        open_source("firewire:0")
    with pytest.raises(SourceError, match="webcam:abc"):
        open_source("webcam:abc")


def test_absent_webcam_is_a_clear_error():
    with pytest.raises(SourceError, match="webcam 7: cannot read a frame; check that it is connected"):
        open_source("webcam:7")  # no machine of this project has eight cameras
