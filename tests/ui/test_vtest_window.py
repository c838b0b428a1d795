"""Real footage in the window: OpenCV's vtest.avi played with pose run live (MediaPipe, colour only), the people
tracked in the image, checked against our hand-labelled tracks (tests/data/vtest_tracks), and the Tracks panel
showing each person's windows and distances."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from app.config import SkelwatchConfig
from capture.pose import build_bundle
from capture.pose.bundle import default_bundle_path
from capture.track_types import TrackState
from tests.app.test_multicamera import Collect
from tests.capture import vtest_data
from tests.shared_data import VTEST
from tests.ui.conftest import screenshot

FRAMES = 80  # 8 s of the clip, in its first labelled sequence (frames 0-300)
SEEN_FRAMES = 15  # a labelled person matched in at least this many frames is judged
KEPT = 0.8  # share of a person's matched frames that must carry their most frequent track number


def test_vtest_people_keep_one_number_and_show_windows_and_distances(qtbot, qapp, config: SkelwatchConfig):
    from ui.main_window import MainWindow
    from ui.style import STYLE

    if not VTEST.is_file():
        pytest.fail(f"{VTEST} is missing: the shared data folder must hold opencv-vtest (see its PROVENANCE.md)")
    build_bundle(default_bundle_path())  # the test's private home holds no pose bundle yet (set-up makes one)
    qapp.setStyleSheet(STYLE)
    win = MainWindow(config)
    qtbot.addWidget(win)
    win.resize(1400, 860)
    win.show()
    collect = Collect()
    try:
        win.start(str(VTEST))
        qtbot.waitUntil(lambda: win.controller.pipeline is not None, timeout=60_000)
        win.controller.pipeline.listeners.append(collect)
        win.controller.set_speed(8.0)  # as fast as pose goes: a replay never drops a frame
        qtbot.waitUntil(lambda: win.controller.finished
                        or bool(collect.frames) and collect.frames[-1].frame_index >= FRAMES, timeout=120_000)
        assert not win.controller.finished, win.controller.pipeline.errors
        path = screenshot(win, "vtest_window")
        win.controller.pause()
        rows = [[win.track_model.index(r, c).data() for c in range(win.track_model.columnCount())]
                for r in range(win.track_model.rowCount())]
    finally:
        win.close()

    # Each labelled person keeps one track number while they walk through.
    gt = np.loadtxt(vtest_data.GROUND_TRUTH, delimiter=",", ndmin=2)
    numbers: dict[int, Counter] = defaultdict(Counter)
    for frame in collect.frames:
        labelled = gt[gt[:, 0] == frame.frame_index + 1]
        hyp = {v.track_id: v.box for v in frame.tracks
               if v.observed and v.state == TrackState.CONFIRMED and v.box is not None}
        truth = np.column_stack([labelled[:, 2:4], labelled[:, 2:4] + labelled[:, 4:6]])
        for row, track in vtest_data.matched(truth, hyp):
            numbers[int(labelled[row, 1])][track] += 1
    judged = {person: c for person, c in numbers.items() if sum(c.values()) >= SEEN_FRAMES}
    kept = {person: c.most_common(1)[0][1] / sum(c.values()) for person, c in judged.items()}
    print(f"\nvtest in the window: {len(collect.frames)} frames, people judged {len(judged)}, share of their frames "
          f"under one number {kept}; {len(rows)} tracks listed; screenshot {path}")
    assert len(judged) >= 3, numbers
    assert all(share >= KEPT for share in kept.values()), kept

    # The Tracks panel lists them with their windows and the distances of their best match.
    header = win.track_model.HEADERS
    windows, distances = header.index("Windows"), header.index("Dist. joint/comp./limb")
    with_windows = [r for r in rows if int(r[windows]) > 0]
    assert len(with_windows) >= 3, rows
    assert all(r[distances] not in ("", "—") for r in with_windows), with_windows
    assert path.stat().st_size > 50_000  # a real frame, not an empty view
