"""Multi-person tracking in metric 3D: one motion filter per person, Hungarian assignment, states in seconds.

Each `Skeleton3D` is reduced to a body centre (the mean of its confident torso joints, camera-frame metres) and
a bone-length vector (body shape). Every frame the tracker predicts each track's centre and assigns detections
to tentative and confirmed tracks with `scipy.optimize.linear_sum_assignment` on a centre distance plus an
optional bone-length term, inside two gates: a plausible walking speed (a person unseen for dt seconds is at
most max_speed_mps * dt plus a noise margin from where they were last seen) and `gate_sigmas` standard
deviations of the prediction (so a coasting track does not take over someone who enters where it left).

States: a new person starts `tentative`; seen for `confirm_after_s` (in two frames at least) it is `confirmed`;
unseen for `lost_after_s` it is `lost` (before that it coasts: reported with no skeleton); unseen for
`delete_after_s` it is `deleted`. A lost track is never matched frame to frame (its position is too
uncertain). Instead a new tentative track that starts within a larger gate of it lists it as a candidate, and
at confirmation is merged into the candidate whose appearance embedding (given by `set_embedding`, e.g. the
gait encoder's MSMR of the track's first windows) is closest, or, without embeddings, whose predicted centre is
closest and within `reacquire_margin_m`. Deciding at confirmation rather than at the first detection lets the
slow embedding arrive; the tracker never computes one itself, so it stays free of torch. The motion filter and
the centre distance sit behind small ABCs (`capture.motion`) and are chosen by name (`MOTION_FILTERS`,
`DISTANCES`).
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from capture.motion import (ConstantVelocityFilter, Distance, EuclideanDistance, MahalanobisDistance, MotionFilter,
                            StaticFilter)
from reid.errors import SkelwatchError

if TYPE_CHECKING:
    from capture.frames import Skeleton3D

logger = logging.getLogger(__name__)

TORSO_JOINTS = (0, 1, 2, 12, 16)  # HipCenter, Spine, ShoulderCenter, HipLeft, HipRight (canonical order)
# Bones whose lengths describe a body: spine, neck, arms, legs, shoulder and hip widths (canonical indices).
BONES = np.array([(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (8, 9), (9, 10), (12, 13), (13, 14), (16, 17),
                  (17, 18), (4, 8), (12, 16)])
_BONE_SMOOTHING = 0.1  # weight of a new observation in a track's running bone lengths
_INFEASIBLE = 1e6  # stands in for +inf in the assignment (scipy rejects rows that are all inf)

EventKind = Literal["created", "confirmed", "lost", "reacquired", "deleted"]


class TrackingError(SkelwatchError):
    """The tracker was given unusable input (time going backwards, an unknown track id)."""


MOTION_FILTERS: dict[str, type[MotionFilter]] = {
    "constant_velocity": ConstantVelocityFilter, "static": StaticFilter}
DISTANCES: dict[str, type[Distance]] = {"mahalanobis": MahalanobisDistance, "euclidean": EuclideanDistance}


def get_motion_filter(name: str) -> type[MotionFilter]:
    """Look a motion filter up by name; the error lists the valid names."""
    if name not in MOTION_FILTERS:
        raise TrackingError(f"unknown motion filter {name!r}; valid: {', '.join(MOTION_FILTERS)}")
    return MOTION_FILTERS[name]


def get_distance(name: str) -> Distance:
    """Make the centre distance called `name`; the error lists the valid names."""
    if name not in DISTANCES:
        raise TrackingError(f"unknown distance {name!r}; valid: {', '.join(DISTANCES)}")
    return DISTANCES[name]()


class TrackState(StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    DELETED = "deleted"


@dataclass(frozen=True)
class TrackUpdate:
    """What happened to one track in one `Tracker.update` call."""

    track_id: int
    state: TrackState
    skeleton: Skeleton3D | None  # the detection assigned this frame; None while coasting, lost or deleted
    centre: np.ndarray  # (3,) observed or predicted body centre, camera frame metres
    age_s: float  # since the track was created
    time_since_update_s: float  # since it was last seen


@dataclass(frozen=True)
class TrackEvent:
    """A state change. For "reacquired", `track_id` is the lost track that came back and `other_id` the
    tentative id under which it was seen meanwhile (that id ends here; its frames now belong to `track_id`)."""

    kind: EventKind
    track_id: int
    timestamp_s: float
    other_id: int | None = None


@dataclass(eq=False)
class Track:
    """One person's track. `history` holds the assigned skeletons of the last `history_s` seconds."""

    track_id: int
    state: TrackState
    start_s: float
    last_seen_s: float
    end_s: float | None = None
    history: deque[tuple[float, Skeleton3D]] = field(default_factory=deque, repr=False)
    embedding: np.ndarray | None = field(default=None, repr=False)  # (D,) unit vector
    motion: MotionFilter | None = field(default=None, repr=False)
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3), repr=False)  # (3,) last observed
    bones: np.ndarray = field(default_factory=lambda: np.full(len(BONES), np.nan), repr=False)  # (B,) metres
    hits: int = 0
    candidates: tuple[int, ...] = ()  # lost tracks this tentative track may turn out to be


_TORSO_MASK = np.isin(np.arange(20), TORSO_JOINTS)  # (20,)


def body_centres(joints: np.ndarray, confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """Per skeleton, the mean of its confident finite torso joints, else of all its confident finite joints.

    Batched over skeletons: one skeleton at a time costs ~10x more in numpy call overhead.
    Args:
        joints: (M, 20, 3) canonical joints, metres.  confidence: (M, 20) in [0, 1].
    Returns:
        (M, 3) float64 centres; a row is NaN for a skeleton without any confident finite joint.
    """
    usable = (confidence >= min_confidence) & np.isfinite(joints).all(axis=2)  # (M, 20)
    torso = usable & _TORSO_MASK
    weight = np.where(torso.any(axis=1, keepdims=True), torso, usable).astype(np.float64)  # (M, 20)
    total = np.einsum("mj,mjd->md", weight, np.where(usable[..., None], joints, 0.0))  # (M, 3)
    count = weight.sum(axis=1, keepdims=True)
    return np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)


def bone_lengths(joints: np.ndarray, confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """(M, 20, 3), (M, 20) -> (M, B) lengths of `BONES` in metres; NaN where an end is unsure or not finite."""
    ends = joints[:, BONES]  # (M, B, 2, 3)
    sure = (confidence[:, BONES] >= min_confidence).all(axis=2)  # (M, B)
    lengths = np.linalg.norm(ends[:, :, 0] - ends[:, :, 1], axis=2)
    return np.where(sure, lengths, np.nan)


def shape_cost(track_bones: np.ndarray, det_bones: np.ndarray) -> np.ndarray:
    """Mean absolute bone-length difference over the bones both sides know: (N, B), (M, B) -> (N, M) metres."""
    diff = np.abs(track_bones[:, None, :] - det_bones[None, :, :])  # (N, M, B)
    known = np.isfinite(diff)
    count = known.sum(axis=2)
    total = np.where(known, diff, 0.0).sum(axis=2)
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


class Tracker:
    """Assigns each frame's skeletons to persistent track ids (module docstring for the rules).

    Args:
        motion, distance: names in `MOTION_FILTERS` and `DISTANCES`.
        max_speed_mps, gate_margin_m: the speed gate; reacquire_margin_m its larger margin for lost tracks.
        gate_sigmas: the second gate, in standard deviations of the predicted centre (per axis).
        confirm_after_s, lost_after_s, delete_after_s: state durations, seconds.
        measurement_noise_m, acceleration_noise_mps2: motion filter noise.
        min_joint_confidence: joints below it do not count for centre or shape.
        shape_weight: cost per metre of mean bone-length difference; 0 turns the shape term off.
        max_embedding_distance: largest cosine distance for an embedding-decided re-acquisition.
        embedding_wait_s: how long past `confirm_after_s` a tentative track waits for its embedding when a
            candidate lost track has one.
        history_s: seconds of skeletons each track keeps.
    Raises:
        TrackingError: for durations out of order.
    """

    def __init__(self, motion: str = "constant_velocity", distance: str = "mahalanobis",
                 max_speed_mps: float = 3.0, gate_margin_m: float = 0.4, gate_sigmas: float = 3.0,
                 reacquire_margin_m: float = 1.0,
                 confirm_after_s: float = 0.3, lost_after_s: float = 0.5, delete_after_s: float = 5.0,
                 measurement_noise_m: float = 0.05, acceleration_noise_mps2: float = 0.5,
                 min_joint_confidence: float = 0.3, shape_weight: float = 2.0,
                 max_embedding_distance: float = 0.3, embedding_wait_s: float = 0.5,
                 history_s: float = 30.0) -> None:
        if not 0.0 < lost_after_s < delete_after_s:
            raise TrackingError(f"tracker: need 0 < lost_after_s ({lost_after_s}) < delete_after_s "
                                f"({delete_after_s}); raise delete_after_s")
        self._filter_cls = get_motion_filter(motion)
        self._distance = get_distance(distance)
        self._noise = (measurement_noise_m, acceleration_noise_mps2)
        self.max_speed_mps, self.gate_margin_m, self.gate_sigmas = max_speed_mps, gate_margin_m, gate_sigmas
        self.reacquire_margin_m = reacquire_margin_m
        self.confirm_after_s, self.lost_after_s, self.delete_after_s = confirm_after_s, lost_after_s, delete_after_s
        self.min_joint_confidence, self.shape_weight = min_joint_confidence, shape_weight
        self.max_embedding_distance, self.embedding_wait_s = max_embedding_distance, embedding_wait_s
        self.history_s = history_s
        self._tracks: dict[int, Track] = {}
        self._events: list[TrackEvent] = []
        self._next_id = 1
        self._merged: dict[int, int] = {}  # tentative id -> the lost track it turned out to be
        self._now: float | None = None

    @property
    def tracks(self) -> list[Track]:
        """The tracks that are not deleted, oldest first."""
        return list(self._tracks.values())

    def pop_events(self) -> list[TrackEvent]:
        """State changes since the last call, in order."""
        events, self._events = self._events, []
        return events

    def set_embedding(self, track_id: int, vector: np.ndarray) -> int | None:
        """Attach an appearance embedding (D,) to a track; it replaces the previous one (pass a smoothed one).

        Embeddings come late (the encoder runs behind), so an id merged away by a re-acquisition is followed to
        the track it became, and an id already deleted is ignored.
        Returns:
            The id of the track that took the embedding, or None when that track is gone.
        Raises:
            TrackingError: an id this tracker never gave out, or a vector that is empty, zero, not 1-D or not
            finite.
        """
        if not 0 < track_id < self._next_id:
            raise TrackingError(f"set_embedding: track id {track_id} was never given out (ids so far: 1 to "
                                f"{self._next_id - 1})")
        vec = np.asarray(vector, dtype=np.float64)
        norm = float(np.linalg.norm(vec)) if vec.ndim == 1 and vec.size else 0.0
        if not np.isfinite(norm) or norm == 0.0:
            raise TrackingError(f"set_embedding: track {track_id} got a vector of shape {vec.shape} that is "
                                f"empty, zero or not finite; pass the encoder's (D,) output")
        track_id = self._merged.get(track_id, track_id)
        track = self._tracks.get(track_id)
        if track is None:
            logger.debug("embedding for deleted track %d ignored", track_id)
            return None
        track.embedding = vec / norm
        return track_id

    def update(self, skeletons: list[Skeleton3D], timestamp_s: float) -> list[TrackUpdate]:
        """Assign this frame's skeletons and advance every track to `timestamp_s`.

        Returns:
            One `TrackUpdate` per track alive before or after this frame (deleted ones once, with that state).
        Raises:
            TrackingError: when `timestamp_s` is not finite or earlier than the previous frame's.
        """
        t = float(timestamp_s)
        if not np.isfinite(t):
            raise TrackingError(f"tracker: frame time {timestamp_s!r} is not a finite number of seconds")
        if self._now is not None and t < self._now:
            raise TrackingError(f"tracker: frame time {t:.3f} s is before the previous one {self._now:.3f} s; "
                                f"feed frames in order (or make a new Tracker after a seek)")
        self._now = t
        dets, centres, bones = self._measure(skeletons)
        for track in self._tracks.values():
            track.motion.predict_to(t)
        active = [tr for tr in self._tracks.values() if tr.state in (TrackState.TENTATIVE, TrackState.CONFIRMED)]
        pairs = self._assign(active, centres, bones, t)
        assigned: dict[int, Skeleton3D] = {}
        for row, col in pairs:
            self._observe(active[row], dets[col], centres[col], bones[col], t)
            assigned[active[row].track_id] = dets[col]
        matched_cols = {col for _, col in pairs}
        for col in range(len(dets)):
            if col not in matched_cols:
                track = self._create(dets[col], centres[col], bones[col], t)
                assigned[track.track_id] = dets[col]
        return self._advance(t, assigned)

    def _measure(self, skeletons: list[Skeleton3D]) -> tuple[list[Skeleton3D], np.ndarray, np.ndarray]:
        """The skeletons that have a body centre, their (M, 3) centres and (M, B) bone lengths."""
        if not skeletons:
            return [], np.zeros((0, 3)), np.zeros((0, len(BONES)))
        joints = np.stack([s.joints for s in skeletons])  # (M, 20, 3)
        conf = np.stack([s.confidence for s in skeletons])  # (M, 20)
        centres = body_centres(joints, conf, self.min_joint_confidence)
        bones = bone_lengths(joints, conf, self.min_joint_confidence)
        keep = np.isfinite(centres[:, 0])
        if not keep.all():
            logger.debug("%d skeleton(s) without a confident finite joint skipped", int((~keep).sum()))
        return [s for s, k in zip(skeletons, keep) if k], centres[keep], bones[keep]

    def _assign(self, active: list[Track], centres: np.ndarray, bones: np.ndarray,
                t: float) -> list[tuple[int, int]]:
        """Hungarian assignment of detections (M, 3) to active tracks inside the speed gate."""
        if not active or not len(centres):
            return []
        predicted = np.array([tr.motion.position for tr in active])  # (N, 3)
        variance = np.array([tr.motion.variance for tr in active])  # (N,)
        cost = self._distance(predicted, variance, centres)  # (N, M)
        if self.shape_weight > 0.0:
            cost = cost + self.shape_weight * shape_cost(np.array([tr.bones for tr in active]), bones)
        last = np.array([tr.centre for tr in active])  # (N, 3)
        reach = self.max_speed_mps * (t - np.array([tr.last_seen_s for tr in active])) + self.gate_margin_m
        moved = np.linalg.norm(last[:, None, :] - centres[None, :, :], axis=2)  # (N, M)
        # Both gates: physically reachable from where last seen, and statistically near the prediction (which
        # keeps a coasting track from taking over someone entering where it left).
        offset2 = ((predicted[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (N, M)
        near = offset2 <= self.gate_sigmas ** 2 * variance[:, None]
        cost = np.where((moved <= reach[:, None]) & near, cost, _INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        return [(r, c) for r, c in zip(rows, cols) if cost[r, c] < _INFEASIBLE]

    def _observe(self, track: Track, skel: Skeleton3D, centre: np.ndarray, bones: np.ndarray, t: float) -> None:
        track.motion.update(centre)
        track.centre = centre
        track.last_seen_s = t
        track.hits += 1
        np.copyto(track.bones, bones, where=np.isnan(track.bones))  # first sight of a bone
        step = bones - track.bones
        np.copyto(step, 0.0, where=np.isnan(step))  # a bone not seen now stays as it was
        track.bones += _BONE_SMOOTHING * step
        track.history.append((t, skel))
        while track.history and track.history[0][0] < t - self.history_s:
            track.history.popleft()

    def _create(self, skel: Skeleton3D, centre: np.ndarray, bones: np.ndarray, t: float) -> Track:
        track = Track(self._next_id, TrackState.TENTATIVE, start_s=t, last_seen_s=t,
                      motion=self._filter_cls(centre, t, *self._noise))
        self._next_id += 1
        self._observe(track, skel, centre, bones, t)
        track.candidates = tuple(
            lost.track_id for lost in self._tracks.values() if lost.state is TrackState.LOST
            and np.linalg.norm(lost.centre - centre)
            <= self.max_speed_mps * (t - lost.last_seen_s) + self.reacquire_margin_m)
        self._tracks[track.track_id] = track
        self._events.append(TrackEvent("created", track.track_id, t))
        return track

    def _advance(self, t: float, assigned: dict[int, Skeleton3D]) -> list[TrackUpdate]:
        """Apply the state rules after assignment and report every track (tentative decisions first, so a
        lost track merged in this frame is reported once, as confirmed)."""
        out = []
        for track in [tr for tr in self._tracks.values() if tr.state is TrackState.TENTATIVE]:
            if t - track.last_seen_s > self.lost_after_s:
                self._end(track, t)
                out.append(self._report(track, t, None))
            elif track.hits >= 2 and t - track.start_s >= self.confirm_after_s and self._ready(track, t):
                survivor = self._confirm(track, t)
                if survivor is not track and track.track_id in assigned:
                    assigned[survivor.track_id] = assigned.pop(track.track_id)
        for track in list(self._tracks.values()):
            unseen = t - track.last_seen_s
            if track.state is TrackState.CONFIRMED and unseen > self.lost_after_s:
                track.state = TrackState.LOST
                self._events.append(TrackEvent("lost", track.track_id, t))
            elif track.state is TrackState.LOST and unseen > self.delete_after_s:
                self._end(track, t)
            out.append(self._report(track, t, assigned.get(track.track_id)))
        return out

    @staticmethod
    def _report(track: Track, t: float, skel: Skeleton3D | None) -> TrackUpdate:
        return TrackUpdate(track.track_id, track.state, skel, track.motion.position.copy(), t - track.start_s,
                           t - track.last_seen_s)

    def _end(self, track: Track, t: float) -> None:
        track.state, track.end_s = TrackState.DELETED, t
        del self._tracks[track.track_id]
        self._events.append(TrackEvent("deleted", track.track_id, t))
        for alias in [a for a, target in self._merged.items() if target == track.track_id]:
            del self._merged[alias]

    def _ready(self, track: Track, t: float) -> bool:
        """Whether a confirmable track may decide now: it waits for its embedding if a candidate has one."""
        waiting = track.embedding is None and any(
            self._tracks[c].embedding is not None for c in self._live_candidates(track))
        return not waiting or t - track.start_s >= self.confirm_after_s + self.embedding_wait_s

    def _live_candidates(self, track: Track) -> list[int]:
        return [c for c in track.candidates if c in self._tracks and self._tracks[c].state is TrackState.LOST]

    def _confirm(self, track: Track, t: float) -> Track:
        """Confirm `track`, or merge it into the lost track it turns out to be; returns the surviving track."""
        target = self._pick_lost(track)
        if target is None:
            track.state = TrackState.CONFIRMED
            track.candidates = ()
            self._events.append(TrackEvent("confirmed", track.track_id, t))
            return track
        target.history.extend(track.history)
        target.motion, target.centre, target.last_seen_s = track.motion, track.centre, track.last_seen_s
        target.bones = np.where(np.isfinite(target.bones), target.bones, track.bones)
        target.hits += track.hits
        target.state = TrackState.CONFIRMED
        if track.embedding is not None:
            target.embedding = track.embedding
        del self._tracks[track.track_id]
        self._merged[track.track_id] = target.track_id
        self._events.append(TrackEvent("reacquired", target.track_id, t, other_id=track.track_id))
        logger.debug("track %d reacquired as tentative %d", target.track_id, track.track_id)
        return target

    def _pick_lost(self, track: Track) -> Track | None:
        """The candidate lost track that `track` is: closest embedding if both have one, else closest predicted
        centre within `reacquire_margin_m`; None for a new person."""
        candidates = [self._tracks[c] for c in self._live_candidates(track)]
        if not candidates:
            return None
        if track.embedding is not None:
            embedded = [c for c in candidates if c.embedding is not None]
            if embedded:
                dist = [1.0 - float(track.embedding @ c.embedding) for c in embedded]
                best = int(np.argmin(dist))
                if dist[best] <= self.max_embedding_distance:
                    return embedded[best]
                candidates = [c for c in candidates if c.embedding is None]  # the embedding says: none of those
                if not candidates:
                    return None
        # Without an embedding, only a lost track whose predicted centre is close is trusted: the speed gate
        # alone grows by metres per second unseen and would hand a lost id to anyone entering the room.
        gaps = [float(np.linalg.norm(c.motion.position - track.motion.position)) for c in candidates]
        best = int(np.argmin(gaps))
        return candidates[best] if gaps[best] <= self.reacquire_margin_m else None
