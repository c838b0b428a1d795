"""`--tracks-out`: which boxes a confirmed track writes, fed frame by frame as the pipeline reports them."""
from __future__ import annotations

import io

import numpy as np

from app.events import FrameResult, TrackView
from app.pipeline.headless import HeadlessListener
from capture.track_types import TrackState


def frame(index: int, *views: tuple[int, TrackState, tuple | None]) -> FrameResult:
    tracks = tuple(TrackView(track_id, state, np.zeros((20, 3), np.float32), None, np.ones(20, np.float32), 0.0,
                             observed=box is not None, box=box) for track_id, state, box in views)
    return FrameResult(index, index / 10.0, None, None, tracks, 10.0, 0)


def test_a_track_confirmed_while_unseen_keeps_the_boxes_it_had_as_tentative(tmp_path):
    """The tracker may confirm a track in a frame its person is missed in; then it is lost. Its tentative boxes
    are still its own (they were dropped, and the track was missing from the file)."""
    listener = HeadlessListener(out=io.StringIO(), err=io.StringIO())
    box = (10.0, 20.0, 30.0, 80.0)
    for result in (frame(0, (1, TrackState.TENTATIVE, box), (2, TrackState.TENTATIVE, box)),
                   frame(1, (1, TrackState.TENTATIVE, box), (2, TrackState.TENTATIVE, box)),
                   frame(2, (1, TrackState.CONFIRMED, None), (2, TrackState.TENTATIVE, None)),
                   frame(3, (1, TrackState.LOST, None))):  # 2 was dropped unconfirmed
        listener.on_frame(result)
    path = tmp_path / "mot.txt"
    assert listener.write_mot(path) == 2
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert [(r[0], r[1]) for r in rows] == [("1", "1"), ("2", "1")]
    assert [float(v) for v in rows[0][2:6]] == [10.0, 20.0, 20.0, 60.0]
