"""The hand-off book: which earlier track of another camera a new track continues, under the gallery's rule."""
from __future__ import annotations

import numpy as np
import pytest

from storage.handoff import HandoffBook
from storage.matching import Thresholds, TrackVoter

DIM = 8


def person(k: int) -> np.ndarray:
    """A window embedding of person k: people 10 apart, windows 0.5 from their person."""
    out = np.zeros(DIM, dtype=np.float32)
    out[k % DIM] = 10.0 * (1 + k // DIM)
    return out


def window(k: int, rng: np.random.Generator) -> np.ndarray:
    return person(k) + rng.normal(0, 0.5 / np.sqrt(DIM), DIM).astype(np.float32)


def book(transit: dict[tuple[str, str], float] | None = None, accept: float = 3.0,
         timed: float | None = None) -> HandoffBook:
    pairs = transit or {}
    return HandoffBook(Thresholds(accept, 0.9), TrackVoter(9, 0.6, 0.3, 3), lambda a, b: pairs.get((a, b), 10.0),
                       max([10.0, *pairs.values()]), keep_windows=4, timed_distance=timed, transit_margin=1.5)


def walk(b: HandoffBook, key: int, camera: str, k: int, start_s: float, windows: int, rng: np.random.Generator,
         identity: int | None = None, shift: float = 0.0):
    """Feed `windows` windows of person k as track `key` (moved `shift` away from how the person looks
    elsewhere, as another camera's view may); returns the hand-offs they settled."""
    out = []
    away = np.zeros(DIM, dtype=np.float32)
    away[(k + 4) % DIM] = shift
    for i in range(windows):
        t0 = start_s + 0.2 * i
        handed = b.observe(key, camera, 100 + key, t0, t0 + 0.4, window(k, rng) + away, 1000 * key + i, identity)
        if handed is not None:
            out.append(handed)
    return out


def test_a_person_entering_b_continues_their_track_of_a_after_the_gallerys_votes() -> None:
    rng = np.random.default_rng(0)
    b = book()
    walk(b, 1, "A", 0, 0.0, 6, rng)  # person 0 on A until 1.4 s
    walk(b, 3, "A", 1, 0.5, 6, rng)  # person 1 on A until 1.9 s
    b.end(1), b.end(3)
    handed = walk(b, 2, "B", 0, 5.0, 6, rng)
    assert len(handed) == 1, "one hand-off, settled once"
    h = handed[0]
    assert (h.key, h.camera, h.source.key, h.source.camera, h.source.row) == (2, "B", 1, "A", 101)
    assert h.distance < 3.0 and h.support >= 0.6
    assert b.get(2).handed_from == 1
    # the earlier track keeps only its last keep_windows windows, with their stored embedding ids
    assert [i for _, i in h.source.windows] == [1002, 1003, 1004, 1005]


def test_no_hand_off_outside_the_transit_time_on_the_same_camera_or_to_a_stranger() -> None:
    rng = np.random.default_rng(1)
    b = book({("A", "B"): 3.0})
    walk(b, 1, "A", 0, 0.0, 6, rng)
    b.end(1)
    assert walk(b, 2, "B", 0, 5.0, 6, rng) == []       # 3.6 s after it left A: over the 3 s from A to B
    assert walk(b, 4, "C", 5, 3.0, 6, rng) == []       # within A -> C's 10 s, but someone else
    assert walk(b, 6, "C", 0, 4.0, 6, rng)[0].source.key == 1  # the same person on C, 2.6 s later
    assert walk(b, 3, "A", 0, 2.0, 6, rng) == []       # the same camera: the tracker's business, not a hand-off


def test_a_track_the_gallery_names_needs_no_hand_off_and_ended_tracks_expire() -> None:
    rng = np.random.default_rng(2)
    b = book()
    walk(b, 1, "A", 0, 0.0, 6, rng)
    b.end(1)
    assert walk(b, 2, "B", 0, 3.0, 6, rng, identity=7) == []  # named by the gallery
    assert b.get(2).identity_id == 7
    assert b.tracks_held == 2
    walk(b, 4, "B", 3, 30.0, 1, rng)  # time goes on past the longest transit: track 1 is forgotten
    assert b.get(1) is None and b.tracks_held == 2
    b.clear()
    assert b.tracks_held == 0


def test_two_earlier_tracks_about_as_near_are_ambiguous_and_hand_off_nobody() -> None:
    b = book()
    walk(b, 1, "A", 0, 0.0, 6, np.random.default_rng(3))
    walk(b, 3, "A", 0, 0.0, 6, np.random.default_rng(3))  # the same windows twice (a split track): no telling
    assert walk(b, 2, "B", 0, 4.0, 9, np.random.default_rng(4)) == []


def test_beyond_the_distance_a_track_continues_one_whose_time_apart_fits_the_learned_transit_times() -> None:
    rng = np.random.default_rng(5)
    b = book(timed=6.0)
    for k, (key, start) in enumerate([(1, 0.0), (3, 2.0)]):  # two confident hand-offs, 2 and 3 s from A to B
        walk(b, key, "A", k, start, 6, rng)
        b.end(key)
        [confident] = walk(b, key + 1, "B", k, start + 1.4 + 2.0 + k, 6, rng)
        assert confident.source.key == key and confident.distance < 3.0 and not confident.timed and confident.learned
        assert confident.gap_s == pytest.approx(2.0 + k)
    assert b.fits_transit("A", "B", 1.5) and b.fits_transit("A", "B", 4.4)  # [2, 3] widened 1.5x both ways
    assert not b.fits_transit("A", "B", 4.6) and not b.fits_transit("B", "A", 2.5)  # nothing learned that way
    walk(b, 5, "A", 2, 5.0, 6, rng)  # person 2 leaves A at 6.4 s
    b.end(5)
    [timed] = walk(b, 6, "B", 2, 9.0, 6, rng, shift=4.5)  # 2.6 s later, looking 4.5 away: beyond 3, within 6
    assert timed.source.key == 5 and 3.0 < timed.distance < 6.0 and timed.timed and not timed.learned
    assert not b.fits_transit("A", "B", 4.6), "a timed hand-off does not teach the transit time"
    walk(b, 7, "A", 3, 8.0, 6, rng)  # person 3 leaves A at 9.4 s
    b.end(7)
    assert walk(b, 8, "B", 3, 15.0, 9, rng, shift=4.5) == []  # 5.6 s later: within the transit, not the learned


def test_before_any_confident_hand_off_nothing_is_accepted_beyond_the_distance() -> None:
    for timed in (6.0, None):
        rng = np.random.default_rng(6)
        b = book(timed=timed)
        walk(b, 1, "A", 2, 0.0, 6, rng)
        b.end(1)
        assert walk(b, 2, "B", 2, 3.4, 9, rng, shift=4.5) == []


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_transit_s"):
        HandoffBook(Thresholds(), TrackVoter(), lambda a, b: 1.0, 0.0)
    with pytest.raises(ValueError, match="transit_margin"):
        HandoffBook(Thresholds(), TrackVoter(), lambda a, b: 1.0, 5.0, transit_margin=0.5)
