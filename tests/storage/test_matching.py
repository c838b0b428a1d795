"""Open-set decisions, threshold calibration and per-track voting."""
from __future__ import annotations

import numpy as np
import pytest

from storage.matching import Candidate, MatchResult, Thresholds, TrackVoter, calibrate_threshold, confidence_of
from storage.matching import calibrate_track_pairs, decide
from tests.storage.conftest import people

T = Thresholds(accept_distance=10.0, ambiguity_ratio=0.9)


def cand(identity: int, distance: float) -> Candidate:
    return Candidate(identity, f"p{identity}", distance, identity * 10)


def test_decide_match_unknown_ambiguous() -> None:
    assert decide((cand(1, 4.0), cand(2, 9.0)), T).decision == "match"
    assert decide((cand(1, 4.0), cand(2, 9.0)), T).identity_id == 1
    assert decide((cand(1, 11.0),), T).decision == "unknown"
    amb = decide((cand(1, 8.0), cand(2, 8.5)), T)
    assert amb.decision == "ambiguous" and amb.identity_id is None
    assert decide((), T).decision == "unknown"
    assert confidence_of(0.0, 10.0) == 1.0 and confidence_of(10.0, 10.0) == 0.5 and confidence_of(30, 10.0) == 0.0
    with pytest.raises(ValueError):
        Thresholds(accept_distance=0.0)


def test_calibration_meets_the_false_accept_target_on_held_out_people() -> None:
    _, x, y = people(40, 6, dim=96, spread=0.6, seed=1)
    cal = calibrate_threshold(x[y < 30], y[y < 30], target_far=0.05)
    assert cal.false_accept_rate <= 0.05 and cal.false_reject_rate < 0.05
    # people never seen in calibration, probed against the calibration gallery, are rejected at that rate
    d = np.linalg.norm(x[y >= 30][:, None, :] - x[y < 30][None, :, :], axis=2).min(axis=1)
    assert np.mean(d <= cal.accept_distance) <= 0.1
    with pytest.raises(ValueError, match="two labels"):
        calibrate_threshold(x[:6], y[:6])


def test_calibration_threshold_moves_with_the_target() -> None:
    _, x, y = people(20, 5, dim=32, spread=2.0, seed=3)  # overlapping people: FAR and FRR trade off
    loose = calibrate_threshold(x, y, target_far=0.3)
    strict = calibrate_threshold(x, y, target_far=0.0)
    assert strict.accept_distance < loose.accept_distance
    assert strict.false_accept_rate == 0.0 and loose.false_accept_rate <= 0.3
    assert strict.false_reject_rate >= loose.false_reject_rate


def test_calibration_on_enough_separated_people_has_no_warning() -> None:
    _, x, y = people(40, 6, dim=96, spread=0.6, seed=1)
    cal = calibrate_threshold(x, y, target_far=0.05)  # 240 impostor probes, 20 needed
    assert cal.usable and cal.warnings == () and cal.identities == 40 and cal.target_far == 0.05


def test_calibration_says_when_the_target_cannot_be_met_and_suggests_nothing() -> None:
    _, x, y = people(3, 3, dim=32, spread=0.3, seed=2)
    x = np.concatenate([x, x[:1]])  # the same window enrolled under a second identity too
    y = np.concatenate([y, [1]])
    cal = calibrate_threshold(x, y, target_far=0.01)
    assert cal.false_accept_rate > 0.01 and not cal.usable
    text = " ".join(cal.warnings)
    assert "cannot be met" in text and "exact copy under another identity" in text
    assert "only 10 impostor probes" in text and "100 or more" in text and "only 3 identities" in text


def test_calibration_that_rejects_most_genuine_windows_is_not_usable() -> None:
    _, x, y = people(30, 5, dim=32, spread=5.0, seed=6)  # people no closer to themselves than to others
    cal = calibrate_threshold(x, y, target_far=0.01)
    assert cal.false_accept_rate <= 0.01 and cal.false_reject_rate > 0.5 and not cal.usable
    assert any("genuine windows would be rejected" in w for w in cal.warnings)


def test_calibration_counts_false_rejects_against_the_persons_other_visits() -> None:
    """Windows of one visit share that visit's offset (sensor bias, clothing): the next window of the same walk
    is always close, a later visit is not. With visits given, the false-reject rate is the later visit's."""
    rng = np.random.default_rng(5)
    people_, visits, windows = 20, 2, 8
    centres = rng.normal(0.0, 1.0, (people_, 16))
    offsets = rng.normal(0.0, 0.5, (people_, visits, 16))  # per-visit shift, larger than the window jitter
    x = (centres[:, None, None] + offsets[:, :, None] + rng.normal(0.0, 0.05, (people_, visits, windows, 16)))
    x = x.reshape(-1, 16)
    y = np.repeat(np.arange(people_), visits * windows)
    visit = np.repeat(np.arange(people_ * visits), windows)
    naive = calibrate_threshold(x, y, target_far=0.01)
    honest = calibrate_threshold(x, y, groups=visit, target_far=0.01)
    assert honest.accept_distance == naive.accept_distance  # the threshold comes from impostors only
    assert naive.false_reject_rate == 0.0  # every window's nearest genuine is its neighbour in the same walk
    cross = np.linalg.norm(x[:, None] - x[None], axis=2)
    cross[(y[:, None] != y[None]) | (visit[:, None] == visit[None])] = np.inf
    assert honest.false_reject_rate == pytest.approx(np.mean(cross.min(axis=1) > honest.accept_distance))
    assert honest.false_reject_rate > 0.2
    with pytest.raises(ValueError, match="two visits"):
        calibrate_threshold(x, y, groups=y, target_far=0.01)  # each person seen on one visit only


def test_calibration_in_blocks_and_on_a_probe_sample() -> None:
    """Many embeddings: probed block by block (the same scores as one all-pairs matrix), and above max_probes
    through a seeded sample of probes, each still against every embedding."""
    _, x, y = people(60, 10, dim=32, spread=1.5, seed=4)  # 600 embeddings: more than one block of probes
    dist = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    np.fill_diagonal(dist, np.inf)
    same = y[:, None] == y[None, :]
    impostor = np.sort(np.where(same, np.inf, dist).min(axis=1))
    full = calibrate_threshold(x, y, target_far=0.05)
    assert full.impostor == 600
    assert full.accept_distance == pytest.approx(impostor[int(0.05 * 600)] * (1 - 1e-9))
    sampled = calibrate_threshold(x, y, target_far=0.05, max_probes=300, seed=1)
    assert sampled.impostor == 300 and sampled == calibrate_threshold(x, y, target_far=0.05, max_probes=300, seed=1)
    assert abs(sampled.accept_distance - full.accept_distance) < 0.1 * full.accept_distance


def result(identity: int | None) -> MatchResult:
    if identity is None:
        return MatchResult("unknown", None, None, 20.0, 0.0, {}, ())
    return MatchResult("match", identity, f"p{identity}", 3.0, 0.85, {}, ())


def tracks(people: int, per_person: int, windows: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Window vectors of `people` people with `per_person` tracks each: a person's tracks sit 1 apart around the
    person (a walk differs from the next), windows 0.3 around their track; people are about 8 apart."""
    dim = 16
    centres = rng.normal(0, 8 / np.sqrt(2 * dim), (people, dim))
    vectors, labels, groups = [], [], []
    for person in range(people):
        for t in range(per_person):
            track = centres[person] + rng.normal(0, 1 / np.sqrt(dim), dim)
            vectors.append(track + rng.normal(0, 0.3 / np.sqrt(dim), (windows, dim)))
            labels += [person] * windows
            groups += [person * per_person + t] * windows
    return np.concatenate(vectors), np.array(labels), np.array(groups)


def test_track_pair_calibration_counts_pairs_of_tracks_of_two_people() -> None:
    x, y, g = tracks(12, 3, 10, np.random.default_rng(0))
    cal = calibrate_track_pairs(x, y, g, target_far=0.02)
    assert cal.impostor == 36 * 33 and cal.genuine == 36 * 2  # ordered pairs of tracks
    assert cal.false_accept_rate <= 0.02 and cal.usable and cal.identities == 12
    # by hand: each track's mean against the nearest window of every other track
    means = {t: x[g == t].mean(axis=0) for t in np.unique(g)}
    impostor = sorted(np.linalg.norm(x[g == u] - means[t], axis=1).min() for t in means for u in means
                      if y[g == t][0] != y[g == u][0])
    allowed = int(0.02 * len(impostor))
    assert impostor[allowed - 1] <= cal.accept_distance < impostor[allowed]
    assert calibrate_track_pairs(x, y, g, target_far=0.05).accept_distance > cal.accept_distance


def test_track_pair_calibration_refuses_a_track_of_two_people_and_lone_tracks() -> None:
    x, y, g = tracks(3, 2, 4, np.random.default_rng(1))
    mixed = g.copy()
    mixed[0] = g[-1]  # a window of person 0 in a track of person 2
    with pytest.raises(ValueError, match="2 people"):
        calibrate_track_pairs(x, y, mixed)
    first = g % 2 == 0
    with pytest.raises(ValueError, match="no person has two tracks"):
        calibrate_track_pairs(x[first], y[first], g[first])


def test_track_voter_takes_a_name_on_a_majority_and_does_not_flicker() -> None:
    voter = TrackVoter(window=6, enter=0.6, keep=0.3, min_windows=3)
    assert voter.update(1, result(7)).identity_id is None  # too few windows yet
    voter.update(1, result(7))
    assert voter.update(1, result(7)).identity_id == 7
    sequence = [8, 7, None, 8, 7, 8]  # noisy single windows: the name stays
    assert [voter.update(1, result(i)).identity_id for i in sequence] == [7] * 6
    for _ in range(3):
        state = voter.update(1, result(8))
    assert state.identity_id == 8 and state.support == pytest.approx(5 / 6)
    assert voter.update(2, result(7)).identity_id is None  # tracks are independent
    voter.replace_identity(8, 9)
    assert voter.current(1).identity_id == 9
    voter.drop(1)
    assert voter.current(1).identity_id is None and voter.current(1).windows == 0


def test_track_voter_drops_a_name_when_its_support_fades() -> None:
    voter = TrackVoter(window=5, enter=0.6, keep=0.3, min_windows=3)
    for _ in range(5):
        voter.update(1, result(3))
    states = [voter.update(1, result(None)).identity_id for _ in range(5)]
    assert states[:3] == [3, 3, 3] and states[-1] is None
