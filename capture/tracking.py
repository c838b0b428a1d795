"""Multi-person tracking: Hungarian assignment in metric 3D where depth is valid, in the image where it is not.

Each `Skeleton3D` is reduced to a body centre (the mean of its confident torso joints, camera-frame metres), a
bone-length vector (body shape), an image box and a score (its mean joint confidence). Every frame the tracker
predicts each track and assigns detections with `scipy.optimize.linear_sum_assignment`:

- with valid depth (`update(..., metric=True)`, the default) on a centre distance plus an optional bone-length
  term, inside two gates: a plausible walking speed (a person unseen for dt seconds is at most
  max_speed_mps * dt plus a noise margin from where they were last seen) and `gate_sigmas` standard deviations
  of the prediction (so a coasting track does not take over someone who enters where it left);
- without it (a video; `metric=False`) on box overlap with each track's predicted box (a Kalman filter on the
  box, `capture.association`), plus a body-proportion term and, where pose gave one, a clothing-colour term
  (`capture.appearance`): a skeleton lifted by an assumed height has a 3D centre that jumps by metres when its
  legs are cut off, its box does not; and two people walking side by side share box and motion, not clothes.

As in ByteTrack, the confident skeletons go to the confirmed tracks first; skeletons scoring under
`high_score` only get a second pass against the confirmed tracks the first pass left unmatched (a tighter
gate), and never start a track; the confident skeletons left go to the tentative tracks, then, in the image,
to the lost ones (re-acquisition by predicted box, within the reach of their last box and `gate_sigmas` of
their box filter's prediction). An unassigned confident skeleton starts a tentative track unless a track
already assigned this frame explains it (a duplicate detection of the same person).

States: a new person starts `tentative`; seen for `confirm_after_s` (in two frames at least) it is `confirmed`;
unseen for `lost_after_s` it is `lost` (before that it coasts: reported with no skeleton); unseen for
`delete_after_s` it is `deleted`. A new tentative track that starts within a larger gate of a lost one lists it
as a candidate, and at confirmation is merged into the candidate whose appearance embedding (given by
`set_embedding`, e.g. the mean of the gait encoder's embeddings of the track's windows) is closest and within
`max_embedding_distance` (Euclidean, on the encoder's scale: the gallery's calibrated match distance, so the
tracker and the gallery agree on who is the same person), or, without embeddings,
whose position is closest and within `reacquire_margin_m` (in the image: `image_reacquire_h` body heights, or
the only one in reach whose clothes match, `appearance_same`).
Deciding at confirmation rather than at the first detection lets the slow embedding arrive; the tracker never
computes one itself, so it stays free of torch. The motion filter and the centre distance sit behind small
ABCs (`capture.motion`) and are chosen by name (`MOTION_FILTERS`, `DISTANCES`). `stats` counts where the
skeletons went (`capture.stats.TrackerStats`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from capture.appearance import appearance_distance
from capture.association import INFEASIBLE, BoxMotion, image_cost, skeleton_box, solve
from capture.body import BONES, body_centres, bone_lengths, shape_cost
from capture.boxes import box_iou
from capture.stats import TrackerStats
from capture.track_types import (DISTANCES, MOTION_FILTERS, Track, TrackEvent, TrackingError, TrackState, TrackUpdate,
                                 get_distance, get_motion_filter)

if TYPE_CHECKING:
    from capture.frames import Skeleton3D

__all__ = ["DISTANCES", "MOTION_FILTERS", "Track", "TrackEvent", "Tracker", "TrackingError", "TrackState",
           "TrackUpdate"]

logger = logging.getLogger(__name__)

_BONE_SMOOTHING = 0.1  # weight of a new observation in a track's running bone lengths
_DUPLICATE_IOU = 0.6  # an unassigned box overlapping an assigned one this much is the same person seen twice
_VETO_MARGIN = 0.2  # how much closer in clothing a lost track must be than a confirmed one to veto its match


def _signatures(signatures: list[np.ndarray | None], dim: int | None = None) -> np.ndarray | None:
    """(N, D) the clothing signatures of skeletons or tracks, NaN rows for those without one; None when none has
    one and `dim` does not give the width."""
    dim = dim or next((len(s) for s in signatures if s is not None), None)
    if dim is None:
        return None
    unknown = np.full(dim, np.nan)
    return np.array([unknown if s is None else s for s in signatures], dtype=np.float64)


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
        max_embedding_distance: largest Euclidean distance between embeddings for an embedding-decided
            re-acquisition, on the encoder's scale (the pipeline passes the gallery's match distance); None:
            embeddings decide nothing (their scale is unknown).
        embedding_wait_s: how long past `confirm_after_s` a tentative track waits for its embedding when a
            candidate lost track has one.
        history_s: seconds of skeletons each track keeps.
        high_score: skeletons whose mean joint confidence is below it get the second pass only.
        min_iou: image gate, the least overlap of a track's predicted box with a skeleton's box.
        image_speed_hps: image gate for moving or coasting tracks: body heights per second a box centre may
            travel (plus `image_margin_h` heights).
        image_shape_weight: in the image, cost per metre of bone-length difference (an assumed-height lift
            keeps a body's proportions, which tell two people walking side by side apart).
        image_reacquire_h: in the image, how close (in body heights) a new track must start to where a lost
            one was last seen to be merged into it without an embedding.
        image_box_noise_h, image_acceleration_hps2: the box Kalman filter's noise (`BoxMotion`), in body
            heights and body heights per second squared.
        appearance_weight: in the image, cost per unit of clothing-colour distance (`capture.appearance`, 0 to
            1) between a track and a skeleton that both have a signature; 0 turns the term off.
        appearance_smoothing: weight of a new signature in a track's running one.
        appearance_veto: in the image, a clothing distance above which a confirmed track may not take a skeleton
            that a lost track nearby is dressed like (by `_VETO_MARGIN` less); 1 turns the veto off.
        appearance_same: in the image, a clothing distance up to which a new track may be a lost one whose box
            filter no longer fits it (re-acquired when it is the only such one in reach); 0 turns this off.
        first_id: the first track id given out; a tracker that replaces another after a seek starts at the old
            one's `next_id`, so ids already shown (track lists, sightings, votes) never name a second person.
        id_step: the gap between two ids given out. With N cameras in one process, camera k's tracker starts at
            k + 1 and steps by N, so ids are unique across cameras and name their camera, however many are made.
    Raises:
        TrackingError: for durations out of order.
    """

    def __init__(self, motion: str = "constant_velocity", distance: str = "mahalanobis",
                 max_speed_mps: float = 3.0, gate_margin_m: float = 0.4, gate_sigmas: float = 3.0,
                 reacquire_margin_m: float = 1.0,
                 confirm_after_s: float = 0.3, lost_after_s: float = 0.5, delete_after_s: float = 5.0,
                 measurement_noise_m: float = 0.05, acceleration_noise_mps2: float = 0.5,
                 min_joint_confidence: float = 0.3, shape_weight: float = 2.0,
                 max_embedding_distance: float | None = None, embedding_wait_s: float = 0.5,
                 history_s: float = 30.0, high_score: float = 0.5, min_iou: float = 0.2,
                 image_speed_hps: float = 1.0, image_margin_h: float = 0.3, image_shape_weight: float = 2.0,
                 image_reacquire_h: float = 0.3, image_box_noise_h: float = 0.05,
                 image_acceleration_hps2: float = 0.25, appearance_weight: float = 2.0,
                 appearance_smoothing: float = 0.05, appearance_veto: float = 0.35, appearance_same: float = 0.15,
                 *, first_id: int = 1, id_step: int = 1) -> None:
        if first_id < 1 or id_step < 1:
            raise TrackingError(f"tracker: first_id {first_id} and id_step {id_step} must be 1 or more")
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
        self.history_s, self.high_score, self.min_iou = history_s, high_score, min_iou
        self.image_speed_hps, self.image_margin_h = image_speed_hps, image_margin_h
        self.image_shape_weight, self.image_reacquire_h = image_shape_weight, image_reacquire_h
        self.image_box_noise_h, self.image_acceleration_hps2 = image_box_noise_h, image_acceleration_hps2
        self.appearance_weight, self.appearance_smoothing = appearance_weight, appearance_smoothing
        self.appearance_veto, self.appearance_same = appearance_veto, appearance_same
        self.stats = TrackerStats()
        self._tracks: dict[int, Track] = {}
        self._events: list[TrackEvent] = []
        self._next_id, self._id_step = first_id, id_step
        self._merged: dict[int, int] = {}  # tentative id -> the lost track it turned out to be
        self._now: float | None = None
        self._image = False  # this frame is associated in the image
        self._frame_signatures: np.ndarray | None = None  # (M, D) this frame's clothing signatures, NaN: none

    @property
    def next_id(self) -> int:
        """The id the next new track will get."""
        return self._next_id

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
        track.embedding = vec
        return track_id

    def update(self, skeletons: list[Skeleton3D], timestamp_s: float, metric: bool = True) -> list[TrackUpdate]:
        """Assign this frame's skeletons and advance every track to `timestamp_s`.

        Args:
            metric: the skeletons' 3D positions come from valid depth; False (a colour-only source)
                associates in the image wherever the skeletons have boxes.
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
        dets, centres, bones, boxes, high = self._measure(skeletons)
        image = not metric and len(dets) > 0 and bool(np.isfinite(boxes).all())
        self.stats.frames += 1
        self.stats.image_frames += image
        self._image = image
        for track in self._tracks.values():
            track.motion.predict_to(t)
        assigned: dict[int, Skeleton3D] = {}
        unused, taken = self._associate(dets, centres, bones, boxes, high, t, image, assigned)
        for col in unused:
            if taken and box_iou(boxes[col], boxes[taken]).max() >= _DUPLICATE_IOU:
                self.stats.births_refused += 1
                continue
            track = self._create(dets[col], centres[col], bones[col], boxes[col], t)
            assigned[track.track_id] = dets[col]
        return self._advance(t, assigned)

    def _associate(self, dets: list[Skeleton3D], centres: np.ndarray, bones: np.ndarray, boxes: np.ndarray,
                   high: np.ndarray, t: float, image: bool, assigned: dict[int, Skeleton3D]
                   ) -> tuple[list[int], list[int]]:
        """The passes: confident skeletons to the confirmed tracks; low-score skeletons to the confirmed tracks
        left (ByteTrack); the confident ones left to the tentative tracks, so a fresh (often duplicate or
        spurious) track cannot take an established person's skeleton, as ByteTrack matches its unconfirmed
        tracks last; then, in the image, to the lost tracks (re-acquisition by predicted box). Lost tracks come
        after the tentative ones, not in the first pass as in ByteTrack: there they took people who appeared
        where someone had vanished (measured on the synthetic colour-only scenes; equal on vtest.avi).
        Fills `assigned`. Returns:
            The confident skeletons nobody took, and the (sorted) ones taken.
        """
        by_state = {state: [tr for tr in self._tracks.values() if tr.state is state] for state in TrackState}
        first = by_state[TrackState.CONFIRMED]
        free, low = list(np.flatnonzero(high)), list(np.flatnonzero(~high))
        pairs = self._match(first, free, centres, bones, boxes, t, image, self.min_iou, 1.0)
        taken = {r for r, _ in pairs}
        left = [tr for r, tr in enumerate(first) if r not in taken]
        second = self._match(left, low, centres, bones, boxes, t, image, max(0.5, self.min_iou), 0.0)
        self.stats.second_pass += len(second)
        self.stats.low_unassigned += len(low) - len(second)
        matched = [(first[r], c) for r, c in pairs] + [(left[r], c) for r, c in second]
        lost = [tr for tr in by_state[TrackState.LOST] if image and tr.box is not None]
        for later in (by_state[TrackState.TENTATIVE], lost):
            used = {c for _, c in matched}
            free = [c for c in free if c not in used]
            matched += [(later[r], c) for r, c in self._match(later, free, centres, bones, boxes, t, image,
                                                               self.min_iou, 1.0)]
        for track, col in matched:
            if track.state is TrackState.LOST:
                self._revive(track, t)
            self._observe(track, dets[col], centres[col], bones[col], boxes[col], t)
            assigned[track.track_id] = dets[col]
        used = {c for _, c in matched}
        return [c for c in free if c not in used], sorted(used)

    def _revive(self, track: Track, t: float) -> None:
        """A lost track took a skeleton directly: it is confirmed again."""
        track.state = TrackState.CONFIRMED
        self.stats.reacquisitions += 1
        self._events.append(TrackEvent("reacquired", track.track_id, t))

    def _measure(self, skeletons: list[Skeleton3D]
                 ) -> tuple[list[Skeleton3D], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The skeletons that have a body centre, their (M, 3) centres, (M, B) bone lengths, (M, 4) boxes (NaN
        rows without one) and (M,) whether each scores high enough for the first pass and a birth."""
        self.stats.skeletons += len(skeletons)
        if not skeletons:
            return [], np.zeros((0, 3)), np.zeros((0, len(BONES))), np.zeros((0, 4)), np.zeros(0, bool)
        joints = np.stack([s.joints for s in skeletons])  # (M, 20, 3)
        conf = np.stack([s.confidence for s in skeletons])  # (M, 20)
        centres = body_centres(joints, conf, self.min_joint_confidence)
        bones = bone_lengths(joints, conf, self.min_joint_confidence)
        keep = np.isfinite(centres).all(axis=1)
        if not keep.all():
            self.stats.unusable += int((~keep).sum())
            logger.debug("%d skeleton(s) without a confident finite joint skipped", int((~keep).sum()))
        dets = [s for s, k in zip(skeletons, keep) if k]
        boxes = np.array([skeleton_box(s, self.min_joint_confidence) for s in dets]).reshape(-1, 4)
        high = conf[keep].mean(axis=1) >= self.high_score
        self._frame_signatures = _signatures([s.appearance for s in dets])
        self.stats.low_score += int((~high).sum())
        return dets, centres[keep], bones[keep], boxes, high

    def _match(self, tracks: list[Track], cols: list[int], centres: np.ndarray, bones: np.ndarray,
               boxes: np.ndarray, t: float, image: bool, min_iou: float, reach_scale: float
               ) -> list[tuple[int, int]]:
        """Hungarian assignment of the detections `cols` to `tracks`; pairs of (track row, detection index)."""
        if not tracks or not cols:
            return []
        cols_arr = np.asarray(cols)
        boxed = image and all(tr.box is not None for tr in tracks)
        if boxed:
            cost = self._image_cost(tracks, boxes[cols_arr], t, min_iou, reach_scale)
            if self.image_shape_weight > 0.0:  # body proportions: an assumed-height lift keeps them
                shape = shape_cost(np.array([tr.bones for tr in tracks]), bones[cols_arr])
                cost = np.where(cost < INFEASIBLE, cost + self.image_shape_weight * shape, cost)
            if self._frame_signatures is not None and self.appearance_weight > 0.0:  # clothes: side by side
                signatures = self._frame_signatures[cols_arr]
                dist = appearance_distance(
                    _signatures([tr.appearance for tr in tracks], signatures.shape[1]), signatures)
                cost = np.where(cost < INFEASIBLE, cost + self.appearance_weight * dist, cost)
                veto = self._dressed_like_lost(tracks, dist, signatures, boxes[cols_arr], t)
                cost = np.where(veto, INFEASIBLE, cost)
        else:
            cost = self._metric_cost(tracks, centres[cols_arr], bones[cols_arr], t)
        return [(r, int(cols_arr[c])) for r, c in solve(cost)]

    def _dressed_like_lost(self, tracks: list[Track], dist: np.ndarray, signatures: np.ndarray, boxes: np.ndarray,
                           t: float) -> np.ndarray:
        """(N, M) pairs a confirmed track may not take: the skeleton's clothes are more than `appearance_veto` from
        the track's and `_VETO_MARGIN` closer to those of a lost track whose last box is within its reach.

        Two people who stand together and part leave the track of the one who walks out of view (behind a sign,
        a pillar) on the one who stays: the box says nothing, the clothes do. Vetoed, the skeleton goes on to the
        lost tracks, or starts a tentative track that `_pick_lost` merges into the lost one."""
        veto = np.zeros(dist.shape, bool)
        confirmed = np.array([tr.state is TrackState.CONFIRMED for tr in tracks])
        suspect = confirmed[:, None] & (dist > self.appearance_veto)
        if not suspect.any():  # the usual call: no track dressed unlike a skeleton it may take; no scan of the lost
            return veto
        lost = [tr for tr in self._tracks.values()
                if tr.state is TrackState.LOST and tr.appearance is not None and tr.box is not None]
        if not lost:
            return veto
        lost_dist = appearance_distance(np.array([tr.appearance for tr in lost]), signatures)  # (L, M)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0  # (M, 2)
        for tr, row in zip(lost, lost_dist):
            gap = np.linalg.norm(centres - tr.box.state[:2], axis=1) / tr.box.height  # (M,) in its heights
            veto |= suspect & (gap <= self._reach_h(tr, t))[None, :] & (row[None, :] <= dist - _VETO_MARGIN)
        return veto

    def _image_cost(self, tracks: list[Track], boxes: np.ndarray, t: float, min_iou: float,
                    reach_scale: float) -> np.ndarray:
        predicted = np.array([tr.box.predict(t) for tr in tracks])  # (N, 4)
        heights = np.array([tr.box.height for tr in tracks])
        unseen = t - np.array([tr.last_seen_s for tr in tracks])
        reach = reach_scale * (self.image_speed_hps * np.minimum(unseen, BoxMotion.MAX_COAST_S)
                               + self.image_margin_h)
        cost = image_cost(predicted, heights, boxes, min_iou, reach)
        # A lost track must also fit its own prediction (position and size, `gate_sigmas` deviations), as in
        # the 3D path: the reach alone let it take whoever entered near where it vanished. Not for tracks seen
        # a moment ago: a box whose legs are cut off jumps by more than the filter expects, and is still them.
        for i, track in enumerate(tracks):
            if track.state is TrackState.LOST:
                cost[i] = np.where(track.box.mahalanobis(boxes, t) <= self.gate_sigmas, cost[i], INFEASIBLE)
        return cost

    def _metric_cost(self, tracks: list[Track], centres: np.ndarray, bones: np.ndarray, t: float) -> np.ndarray:
        """Centre distance (+ shape) of detections (M, 3) to tracks inside the speed and sigma gates."""
        predicted = np.array([tr.motion.position for tr in tracks])  # (N, 3)
        variance = np.array([tr.motion.variance for tr in tracks])  # (N,)
        cost = self._distance(predicted, variance, centres)  # (N, M)
        if self.shape_weight > 0.0:
            cost = cost + self.shape_weight * shape_cost(np.array([tr.bones for tr in tracks]), bones)
        last = np.array([tr.centre for tr in tracks])  # (N, 3)
        reach = self.max_speed_mps * (t - np.array([tr.last_seen_s for tr in tracks])) + self.gate_margin_m
        moved = np.linalg.norm(last[:, None, :] - centres[None, :, :], axis=2)  # (N, M)
        # Both gates: physically reachable from where last seen, and statistically near the prediction (which
        # keeps a coasting track from taking over someone entering where it left).
        offset2 = ((predicted[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (N, M)
        near = offset2 <= self.gate_sigmas ** 2 * variance[:, None]
        return np.where((moved <= reach[:, None]) & near, cost, INFEASIBLE)

    def _observe(self, track: Track, skel: Skeleton3D, centre: np.ndarray, bones: np.ndarray, box: np.ndarray,
                 t: float) -> None:
        track.motion.update(centre)
        if np.isfinite(box).all():
            if track.box is None:
                track.box = BoxMotion(box, t, self.image_box_noise_h, self.image_acceleration_hps2)
            else:
                track.box.update(box, t)
        track.centre = centre
        track.last_seen_s = t
        track.hits += 1
        np.copyto(track.bones, bones, where=np.isnan(track.bones))  # first sight of a bone
        step = bones - track.bones
        np.copyto(step, 0.0, where=np.isnan(step))  # a bone not seen now stays as it was
        track.bones += _BONE_SMOOTHING * step
        if skel.appearance is not None:
            self._observe_appearance(track, skel.appearance)
        track.history.append((t, skel))
        while track.history and track.history[0][0] < t - self.history_s:
            track.history.popleft()

    def _observe_appearance(self, track: Track, signature: np.ndarray) -> None:
        """Fold a skeleton's clothing signature into the track's running one (a slow average: one frame's box
        may hold part of a passer-by)."""
        if track.appearance is None:
            track.appearance = signature.astype(np.float64)
            return
        mixed = track.appearance + self.appearance_smoothing * (signature - track.appearance)
        track.appearance = mixed / max(float(np.linalg.norm(mixed)), 1e-12)

    def _create(self, skel: Skeleton3D, centre: np.ndarray, bones: np.ndarray, box: np.ndarray, t: float) -> Track:
        track = Track(self._next_id, TrackState.TENTATIVE, start_s=t, last_seen_s=t,
                      motion=self._filter_cls(centre, t, *self._noise))
        self._next_id += self._id_step
        self._observe(track, skel, centre, bones, box, t)
        track.candidates = tuple(lost.track_id for lost in self._tracks.values()
                                 if lost.state is TrackState.LOST and self._may_be(lost, track, t))
        self._tracks[track.track_id] = track
        self._events.append(TrackEvent("created", track.track_id, t))
        self.stats.births += 1
        return track

    def _may_be(self, lost: Track, new: Track, t: float) -> bool:
        """Whether the lost track could have walked to where `new` starts (the larger re-acquisition gate); in
        the image, within its box filter's prediction, or dressed alike (a box that grew or shrank while its
        person was half hidden no longer predicts them)."""
        unseen = t - lost.last_seen_s
        if self._image and lost.box is not None and new.box is not None:
            near = self._image_gap(lost, new) <= self._reach_h(lost, t)
            fits = float(lost.box.mahalanobis(new.box.predict(t), t)[0]) <= self.gate_sigmas
            return near and (fits or self._same_clothes(lost, new))
        return bool(np.linalg.norm(lost.centre - new.centre)
                    <= self.max_speed_mps * unseen + self.reacquire_margin_m)

    def _reach_h(self, lost: Track, t: float) -> float:
        """How far from its last box, in its body heights, a lost person may have walked by `t`."""
        return self.image_speed_hps * (t - lost.last_seen_s) + self.image_reacquire_h

    def _same_clothes(self, lost: Track, new: Track) -> bool:
        """Whether both tracks have a clothing signature and they are within `appearance_same`."""
        if lost.appearance is None or new.appearance is None:
            return False
        return float(appearance_distance(lost.appearance[None], new.appearance[None])[0, 0]) <= self.appearance_same

    @staticmethod
    def _image_gap(lost: Track, new: Track) -> float:
        """Distance between the lost track's last box centre and the new one's, in the lost track's heights."""
        a, b = lost.box.state, new.box.state
        return float(np.hypot(a[0] - b[0], a[1] - b[1]) / lost.box.height)

    def _advance(self, t: float, assigned: dict[int, Skeleton3D]) -> list[TrackUpdate]:
        """Apply the state rules after assignment and report every track (tentative decisions first, so a
        lost track merged in this frame is reported once, as confirmed)."""
        out = []
        for track in [tr for tr in self._tracks.values() if tr.state is TrackState.TENTATIVE]:
            if t - track.last_seen_s > self.lost_after_s:
                self._end(track, t)
                self.stats.tentative_dropped += 1
                out.append(self._report(track, t, None))
            elif track.hits >= 2 and t - track.start_s >= self.confirm_after_s and self._ready(track, t):
                survivor = self._confirm(track, t)
                if survivor is not track and track.track_id in assigned:
                    assigned[survivor.track_id] = assigned.pop(track.track_id)
        for track in list(self._tracks.values()):
            unseen = t - track.last_seen_s
            if track.state is TrackState.CONFIRMED and unseen > self.lost_after_s:
                track.state = TrackState.LOST
                self.stats.lost += 1
                self._events.append(TrackEvent("lost", track.track_id, t))
            elif track.state is TrackState.LOST and unseen > self.delete_after_s:
                self._end(track, t)
            out.append(self._report(track, t, assigned.get(track.track_id)))
        for upd in out:
            if upd.skeleton is not None:
                if upd.state is TrackState.CONFIRMED:
                    self.stats.to_confirmed += 1
                else:
                    self.stats.to_tentative += 1
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
        waiting = self.max_embedding_distance is not None and track.embedding is None and any(
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
            self.stats.confirmations += 1
            self._events.append(TrackEvent("confirmed", track.track_id, t))
            return track
        target.history.extend(track.history)
        target.motion, target.centre, target.last_seen_s = track.motion, track.centre, track.last_seen_s
        target.box = track.box or target.box
        if target.appearance is None:
            target.appearance = track.appearance
        target.bones = np.where(np.isfinite(target.bones), target.bones, track.bones)
        target.hits += track.hits
        target.state = TrackState.CONFIRMED
        if track.embedding is not None:
            target.embedding = track.embedding
        del self._tracks[track.track_id]
        self._merged[track.track_id] = target.track_id
        self.stats.reacquisitions += 1
        self._events.append(TrackEvent("reacquired", target.track_id, t, other_id=track.track_id))
        logger.debug("track %d reacquired as tentative %d", target.track_id, track.track_id)
        return target

    def _pick_lost(self, track: Track) -> Track | None:
        """The candidate lost track that `track` is: closest embedding if both have one, else closest position
        within `reacquire_margin_m` metres (`image_reacquire_h` body heights in the image, or the only candidate
        dressed alike, whatever its embedding); None for a new person."""
        candidates = [self._tracks[c] for c in self._live_candidates(track)]
        if not candidates:
            return None
        if track.embedding is not None and self.max_embedding_distance is not None:
            embedded = [c for c in candidates if c.embedding is not None]
            if embedded:
                dist = [float(np.linalg.norm(track.embedding - c.embedding)) for c in embedded]
                best = int(np.argmin(dist))
                if dist[best] <= self.max_embedding_distance:
                    return embedded[best]
                # The embedding says: none of those. In the image, clothes that match outweigh it: the encoder sees
                # height-lifted skeletons there, and on vtest.avi it turned away the walker pose had missed.
                candidates = [c for c in candidates if c.embedding is None
                              or (self._image and self._same_clothes(c, track))]
                if not candidates:
                    return None
        # Without an embedding, only a lost track whose predicted position is close is trusted: the speed gate
        # alone grows by metres per second unseen and would hand a lost id to anyone entering the room. In the
        # image, so is the one lost track in reach dressed like the new one: a walker pose missed for a second
        # reappears a body height on (vtest.avi frames 170-180), and the clothes say who it is.
        if track.box is not None and all(c.box is not None for c in candidates) and self._image:
            gaps, margin = [self._image_gap(c, track) for c in candidates], self.image_reacquire_h
            dressed = [c for c in candidates if self._same_clothes(c, track)]
            if min(gaps) > margin and len(dressed) == 1:
                return dressed[0]
        else:
            gaps = [float(np.linalg.norm(c.motion.position - track.motion.position)) for c in candidates]
            margin = self.reacquire_margin_m
        best = int(np.argmin(gaps))
        return candidates[best] if gaps[best] <= margin else None
