"""Open-set decisions on one window, threshold calibration from enrolled data, and per-track voting.

A window is a *match* when its nearest identity is within `accept_distance` and clearly nearer than the next
identity, *ambiguous* when a second identity is almost as near (distance ratio above `ambiguity_ratio`), and
*unknown* otherwise. Distances are Euclidean (not squared) between MSMR vectors, as in Hi-MPC retrieval.
"""
from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np
from scipy.spatial.distance import cdist

logger = logging.getLogger(__name__)

Decision = Literal["match", "unknown", "ambiguous"]


@dataclass(frozen=True)
class Thresholds:
    """accept_distance: Euclidean distance under which a window may match (calibrate it per model version);
    ambiguity_ratio: best/second-best identity distance ratio above which two identities are too close to call."""

    accept_distance: float = 1.0
    ambiguity_ratio: float = 0.9

    def __post_init__(self) -> None:
        if not self.accept_distance > 0 or not 0 < self.ambiguity_ratio <= 1:
            raise ValueError(f"bad thresholds {self}: accept_distance > 0 and 0 < ambiguity_ratio <= 1 required")


@dataclass(frozen=True)
class Candidate:
    """One identity ranked for a window: its nearest embedding and the per-level distances to it."""

    identity_id: int
    name: str
    distance: float
    embedding_id: int
    level_distances: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchResult:
    """The open-set outcome for one window; `candidates` are the nearest identities, best first."""

    decision: Decision
    identity_id: Optional[int]
    name: Optional[str]
    distance: Optional[float]
    confidence: float
    level_distances: dict[str, float]
    candidates: tuple[Candidate, ...]


def confidence_of(distance: float | None, accept_distance: float) -> float:
    """Map a distance to [0, 1]: 1 at 0, 0.5 at the accept threshold, 0 at twice it (linear between)."""
    if distance is None or not np.isfinite(distance):
        return 0.0
    return float(np.clip(1.0 - 0.5 * distance / accept_distance, 0.0, 1.0))


def decide(candidates: tuple[Candidate, ...], thresholds: Thresholds) -> MatchResult:
    """The open-set decision from identity candidates sorted by distance (one entry per identity)."""
    if not candidates:
        return MatchResult("unknown", None, None, None, 0.0, {}, ())
    best = candidates[0]
    confidence = confidence_of(best.distance, thresholds.accept_distance)
    if best.distance > thresholds.accept_distance:
        return MatchResult("unknown", None, None, best.distance, confidence, best.level_distances, candidates)
    if len(candidates) > 1 and candidates[1].distance > 0:
        if best.distance / candidates[1].distance > thresholds.ambiguity_ratio:
            return MatchResult("ambiguous", None, None, best.distance, confidence, best.level_distances, candidates)
    return MatchResult("match", best.identity_id, best.name, best.distance, confidence, best.level_distances,
                       candidates)


@dataclass(frozen=True)
class Calibration:
    """A threshold and its measured false-accept (unknown person accepted) and false-reject rates.

    `warnings` say why the threshold should not be used as it is (target missed, too few impostor probes or
    identities to measure the target, most genuine windows rejected); `usable` is False when the target was
    missed or the threshold rejects most genuine windows, and then no distance should be suggested.
    """

    accept_distance: float
    false_accept_rate: float
    false_reject_rate: float
    genuine: int
    impostor: int
    target_far: float = 0.01
    identities: int = 0
    warnings: tuple[str, ...] = ()
    usable: bool = True


MIN_IDENTITIES = 5  # fewer people and the impostor distances describe too few pairs of people to be trusted
MAX_USABLE_FRR = 0.5  # a threshold rejecting more than this share of genuine windows matches almost nobody


def _judge(far: float, frr: float, target_far: float, impostor: np.ndarray, identities: int
           ) -> tuple[tuple[str, ...], bool]:
    """Warnings about a calibration, and whether its threshold is worth suggesting."""
    warnings = []
    usable = True
    if far > target_far:
        usable = False
        zero = int(np.sum(impostor <= 0))
        why = (f"{zero} embeddings have an exact copy under another identity (merge or split those identities)"
               if zero else "impostors lie as close as genuine pairs")
        warnings.append(f"the target false-accept rate {target_far:g} cannot be met: the best threshold accepts "
                        f"{far:.4f} of impostor probes ({why})")
    needed = int(np.ceil(1.0 / target_far)) if target_far > 0 else None
    if needed is None or len(impostor) < needed:
        warnings.append(f"only {len(impostor)} impostor probes: a false-accept rate of {target_far:g} can only be "
                        f"measured with {needed or 'infinitely many'} or more (ten times that to trust it); the "
                        "measured rate is a coarse estimate. Enrol more windows and people")
    if identities < MIN_IDENTITIES:
        warnings.append(f"only {identities} identities: calibrate with {MIN_IDENTITIES} or more people, or the "
                        "threshold fits these few pairs of people rather than strangers")
    if frr > MAX_USABLE_FRR:
        usable = False
        warnings.append(f"at this distance {frr:.0%} of genuine windows would be rejected: these embeddings do "
                        "not separate these people (check the model version, or train on this site's sessions)")
    return tuple(warnings), usable


CALIBRATION_PROBES = 5000  # above this many embeddings a seeded sample of them is probed
CALIBRATION_BLOCK = 256  # probes whose distances to every embedding are held at once


def calibrate_threshold(embeddings: np.ndarray, labels: np.ndarray, *, groups: np.ndarray | None = None,
                        target_far: float = 0.01, max_probes: int = CALIBRATION_PROBES, seed: int = 0) -> Calibration:
    """Pick the largest distance threshold whose open-set false-accept rate stays at or under `target_far`.

    Each embedding is a probe against all the others (itself left out). Its genuine score is the distance to
    the nearest embedding of its own label in another group; its impostor score is the distance to the nearest
    embedding of any other label, i.e. what it would match if its own person were not enrolled. Groups are
    visits (sequences, sessions): a person is enrolled on one visit and matched on a later one, and the next
    window of the same walk is far closer than any other visit, so counting it would report almost no false
    rejects at a distance that rejects half of the returning people. A large set is probed through a
    seeded sample of `max_probes` embeddings (still against all of them), in blocks, so memory stays
    O(block * N) and time O(max_probes * N) however large the gallery or dataset.

    Args:
        embeddings: (N, D) float vectors of at least two labels. labels: (N,) integer or string labels.
        groups: (N,) visit of each embedding; None counts every other embedding of the label as genuine.
        target_far: wanted fraction of impostor probes accepted, in [0, 1).
        max_probes, seed: the sample size above which, and the seed with which, probes are sampled.
    Returns:
        Calibration with the threshold and the rates measured on these embeddings.
    Raises:
        ValueError: fewer than two labels, a label with a single embedding only, no label seen on two visits,
            or a bad target.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels)
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    if x.ndim != 2 or len(x) != len(y) or len(g) != len(y):
        raise ValueError(f"embeddings {x.shape}, labels {y.shape} and groups {g.shape} do not pair up")
    if not 0 <= target_far < 1:
        raise ValueError(f"target_far={target_far} must be in [0, 1)")
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or counts.max() < 2:
        raise ValueError("calibration needs at least two labels and a label with two or more embeddings")
    probes = np.arange(len(x))
    if len(probes) > max_probes:
        probes = np.sort(np.random.default_rng(seed).choice(probes, max_probes, replace=False))
    impostor, genuine = np.empty(len(probes)), np.empty(len(probes))
    for start in range(0, len(probes), CALIBRATION_BLOCK):
        block = probes[start:start + CALIBRATION_BLOCK]
        dist = cdist(x[block], x)  # (b, N)
        dist[np.arange(len(block)), block] = np.inf  # a probe is not its own match
        same = y[block, None] == y[None, :]
        other_visit = g[block, None] != g[None, :]
        impostor[start:start + len(block)] = np.where(same, np.inf, dist).min(axis=1)
        genuine[start:start + len(block)] = np.where(same & other_visit, dist, np.inf).min(axis=1)
    genuine = genuine[np.isfinite(genuine)]
    if not len(genuine):
        raise ValueError("no person has windows of two visits (groups): the false-reject rate cannot be measured")
    return _calibration_at(genuine, impostor, target_far, int(len(counts)))


def _calibration_at(genuine: np.ndarray, impostor: np.ndarray, target_far: float, identities: int) -> Calibration:
    """The largest threshold under which at most `target_far` of the `impostor` distances fall, with its rates."""
    ranked = np.sort(impostor)
    allowed = int(np.floor(target_far * len(ranked)))  # impostors that may fall under the threshold
    threshold = float(ranked[allowed]) * (1 - 1e-9) if allowed < len(ranked) else float(ranked[-1])
    if threshold <= 0:
        threshold = float(np.min(ranked[ranked > 0])) * 0.5 if np.any(ranked > 0) else 1e-6
    far = float(np.mean(impostor <= threshold))
    frr = float(np.mean(genuine > threshold))
    warnings, usable = _judge(far, frr, target_far, impostor, identities)
    logger.info("calibrated accept distance %.4f: FAR %.4f, FRR %.4f%s", threshold, far, frr,
                "".join(f"; {w}" for w in warnings))
    return Calibration(threshold, far, frr, int(len(genuine)), int(len(impostor)), target_far, identities,
                       warnings, usable)


def calibrate_track_pairs(embeddings: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                          target_far: float = 0.02) -> Calibration:
    """Pick the largest distance at which at most `target_far` of the pairs of tracks of two different people
    would be taken for one person, as a hand-off compares them.

    Why not `calibrate_threshold`: a hand-off compares one new track with the few tracks that left the other
    cameras in the transit time, not one window with everybody enrolled. Its probe is the mean of the new track's
    windows and its distance to an earlier track that of the nearest of that track's windows
    (`storage.handoff.HandoffBook`), and what goes wrong is one such pair, so the rate is counted per pair.

    Args:
        embeddings: (N, D) window vectors; labels: (N,) their person; groups: (N,) their track (sequence). Each
            group is the new track once, against every other group: genuine when of the same person.
        target_far: wanted fraction of impostor pairs accepted, in [0, 1).
    Raises:
        ValueError: fewer than two people, no person with two groups, a group of two people, or a bad target.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    y, g = np.asarray(labels), np.asarray(groups)
    if x.ndim != 2 or not len(x) == len(y) == len(g):
        raise ValueError(f"embeddings {x.shape}, labels {y.shape} and groups {g.shape} do not pair up")
    if not 0 <= target_far < 1:
        raise ValueError(f"target_far={target_far} must be in [0, 1)")
    names = np.unique(g)
    owner = []
    for name in names:
        people = np.unique(y[g == name])
        if len(people) != 1:
            raise ValueError(f"track {name!r} holds windows of {len(people)} people; a track is one person's")
        owner.append(people[0])
    owner = np.asarray(owner)
    if len(np.unique(owner)) < 2:
        raise ValueError("track-pair calibration needs at least two people")
    index = np.searchsorted(names, g)  # (N,) each window's track, as a position in `names`
    probes = np.stack([x[index == k].mean(axis=0) for k in range(len(names))])  # (T, D) each track's mean
    nearest = np.full((len(names), len(names)), np.inf)  # [probe track, other track] -> nearest window's distance
    np.minimum.at(nearest.T, index, cdist(x, probes))
    off_diagonal = ~np.eye(len(names), dtype=bool)
    same = owner[:, None] == owner[None, :]
    genuine, impostor = nearest[same & off_diagonal], nearest[~same]
    if not len(genuine):
        raise ValueError("no person has two tracks (groups): the false-reject rate cannot be measured")
    return _calibration_at(genuine, impostor, target_far, int(len(np.unique(owner))))


@dataclass(frozen=True)
class TrackIdentity:
    """The voted identity of a track (None = unknown so far), and the share of recent windows that back it."""

    identity_id: Optional[int]
    support: float
    windows: int


class TrackVoter:
    """Per-track majority vote over the last `window` decisions, with hysteresis so a name does not flicker.

    A track takes identity A when A holds at least `enter` of its recent windows (and at least `min_windows`
    windows were seen); it keeps A until A falls under `keep`, even if single windows say otherwise.
    Unknown and ambiguous windows count as votes for nobody.
    """

    def __init__(self, window: int = 9, enter: float = 0.6, keep: float = 0.3, min_windows: int = 3) -> None:
        if not (window >= 1 and 0 < keep <= enter <= 1 and 1 <= min_windows <= window):
            raise ValueError(f"TrackVoter(window={window}, enter={enter}, keep={keep}, min_windows={min_windows}):"
                             " need window >= 1, 0 < keep <= enter <= 1, 1 <= min_windows <= window")
        self.window, self.enter, self.keep, self.min_windows = window, enter, keep, min_windows
        self._votes: dict[int, deque[Optional[int]]] = {}
        self._current: dict[int, Optional[int]] = {}

    def update(self, track: int, result: MatchResult) -> TrackIdentity:
        """Add one window's result for `track` and return the track's identity after it."""
        votes = self._votes.setdefault(track, deque(maxlen=self.window))
        votes.append(result.identity_id if result.decision == "match" else None)
        counts = Counter(v for v in votes if v is not None)
        current = self._current.get(track)
        n = len(votes)
        if current is not None and counts[current] / n < self.keep:
            current = None
        if current is None and counts and n >= self.min_windows:
            leader, count = counts.most_common(1)[0]
            if count / n >= self.enter:
                current = leader
        self._current[track] = current
        support = counts[current] / n if current is not None else 0.0
        return TrackIdentity(current, support, n)

    def snapshot(self) -> tuple[dict[int, deque[Optional[int]]], dict[int, Optional[int]]]:
        """Every track's votes as they are now, to `restore` when the windows just voted were not stored."""
        return {t: deque(v, maxlen=self.window) for t, v in self._votes.items()}, dict(self._current)

    def restore(self, state: tuple[dict[int, deque[Optional[int]]], dict[int, Optional[int]]]) -> None:
        """Put back a `snapshot`: the windows voted since count as never seen (they will be voted again)."""
        self._votes = {t: deque(v, maxlen=self.window) for t, v in state[0].items()}
        self._current = dict(state[1])

    def current(self, track: int) -> TrackIdentity:
        votes = self._votes.get(track, ())
        current = self._current.get(track)
        n = len(votes)
        support = sum(v == current for v in votes) / n if current is not None and n else 0.0
        return TrackIdentity(current, support, n)

    def replace_identity(self, identity_id: int, by: Optional[int] = None) -> None:
        """Turn every vote for an identity into a vote for `by`: the one it was merged into, or None if deleted."""
        for track, votes in self._votes.items():
            self._votes[track] = deque((by if v == identity_id else v for v in votes), maxlen=self.window)
            if self._current.get(track) == identity_id:
                self._current[track] = by

    @property
    def tracks_held(self) -> int:
        """Tracks with votes kept (what `drop` releases)."""
        return len(self._votes)

    def drop(self, track: int) -> None:
        """Forget a track that ended."""
        self._votes.pop(track, None)
        self._current.pop(track, None)
