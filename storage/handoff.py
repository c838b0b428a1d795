"""Hand-off between cameras: a track that starts on one camera continues a track that left another camera shortly
before, when their window embeddings say it is the same person.

The gallery names only the people enrolled in it; a person nobody enrolled is "unknown" on every camera, as a
new unknown each time. The book keeps the last windows of every track (bounded) for as long as a person may take
to walk from one camera to the next, and matches a new track's windows against the tracks that ended on the
other cameras within that transit time: with the gallery's own open-set rule (`decide`: the calibrated match
distance and the ambiguity ratio) and its own voting (a `TrackVoter` with the gallery's settings). The probe is
the mean of the new track's windows so far, not its newest window alone: the earlier track holds a few dozen
windows where an enrolled person holds hundreds, so a single window's nearest distance runs higher than the
calibration assumed; the mean is a steadier window (on 4 sites of 8 walkers of bench.handoff it named 12 of the
16 people who crossed instead of 10, with no wrong hand-off either way). What to call the person then (the
gallery identity the earlier track had, or a new "visitor" identity) is the caller's business: the book only says
which track continues which.

The book also learns how long people take between two cameras: the time between the tracks of every confident
hand-off (within the gallery's distance) is kept per ordered pair of cameras. A new track whose nearest earlier
track is further than that distance, but within `timed_distance` (the model's hand-off distance, calibrated per
pair of tracks), continues it when the time between them fits what the confident ones took (at least
MIN_TRANSITS of them, their range widened by `transit_margin` both ways). Most strangers' nearest earlier track
left at another moment than a walk between the cameras takes, so the wider distance costs few wrong hand-offs
(bench.handoff, 16 sites: 94 of 96 crossers kept their identity instead of 86, and no wrong hand-off was added).
Multi-camera trackers use the same cue (the cameras' transit times, learned from confident matches). The book
starts from the times stored by earlier runs (`storage.transits`, given as `learned`); cameras between which
nobody was ever handed off confidently get none of the wider hand-offs.

Timestamps of different cameras are compared directly: they must share a clock (cameras started together in
one process; recordings of the same moment).
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Optional

import numpy as np

from storage.matching import Candidate, Thresholds, TrackVoter, decide


MIN_TRANSITS = 1     # confident hand-offs between two cameras before their transit time is trusted
KEEP_TRANSITS = 100  # the most recent ones kept per pair of cameras (people walk at other paces by day and night)


@dataclass
class SeenTrack:
    """What the book keeps of one track: where and when it was seen, its last windows and who it is."""

    key: int                        # the pipeline's track key (unique across cameras)
    camera: str
    row: int                        # its database track id
    first_start_s: float            # start of its first window
    last_end_s: float               # end of its last window
    windows: deque[tuple[np.ndarray, Optional[int]]]  # (embedding (D,), stored unknown-window id or None)
    identity_id: Optional[int] = None  # the gallery identity it has (voted, or given by a hand-off)
    handed_from: Optional[int] = None  # the key of the track it continues
    support: float = 0.0            # the share of its windows that voted for that hand-off
    ended: bool = False

    def vectors(self) -> np.ndarray:
        return np.stack([v for v, _ in self.windows])  # (n, D)

    def gap_after(self, earlier: SeenTrack) -> float:
        """Seconds from the end of `earlier`'s last window to the start of this track's first (negative: they
        overlap in time, so this track cannot continue it)."""
        return self.first_start_s - earlier.last_end_s


@dataclass(frozen=True)
class Handoff:
    """A track (`key`, on `camera`) continues `source`, a track of another camera; `distance` is the distance
    between them (the new track's mean window to the source's nearest) and `support` the share of the new track's
    recent windows that voted for it."""

    key: int
    camera: str
    source: SeenTrack = field(repr=False)
    distance: float
    support: float
    gap_s: float = 0.0    # from the end of the source's last window to the start of the new track's first
    timed: bool = False   # beyond the gallery's distance, taken because gap_s fitted the learned transit times
    learned: bool = False  # gap_s became a learned transit time (a confident hand-off while the book learns)


class HandoffBook:
    """Recent tracks of every camera, and the hand-offs between them.

    Args:
        thresholds: the gallery's (the calibrated match distance and the ambiguity ratio).
        voter: votes per new track over the earlier tracks it may continue (the gallery's vote settings).
        transit_s: (from camera, to camera) -> the longest time, seconds, a person takes from one's view to the
            other's; max_transit_s: the largest it returns (how long an ended track is kept).
        keep_windows: windows kept per track (memory: this many D-vectors per person in view or in transit).
        timed_distance: the distance up to which a new track continues an earlier one when the time between them
            fits the learned transit times (None: never beyond the thresholds' distance).
        transit_margin: how far (a factor, >= 1) a time may lie outside the range of the learned ones and fit.
        learned: transit times learned before, (from camera, to camera) -> seconds, oldest first (stored ones:
            `storage.transits`); the book goes on learning from them.
    Raises:
        ValueError: a non-positive max_transit_s or keep_windows, a transit_margin under 1.
    """

    def __init__(self, thresholds: Thresholds, voter: TrackVoter, transit_s: Callable[[str, str], float],
                 max_transit_s: float, keep_windows: int = 32, timed_distance: Optional[float] = None,
                 transit_margin: float = 2.0, learned: Mapping[tuple[str, str], Iterable[float]] | None = None
                 ) -> None:
        if not (max_transit_s > 0 and keep_windows >= 1 and transit_margin >= 1):
            raise ValueError(f"HandoffBook: max_transit_s={max_transit_s} must be > 0, keep_windows="
                             f"{keep_windows} >= 1 and transit_margin={transit_margin} >= 1")
        self.thresholds, self.voter, self.transit_s = thresholds, voter, transit_s
        self.max_transit_s, self.keep_windows = max_transit_s, keep_windows
        self.timed_distance, self.transit_margin = timed_distance, transit_margin
        self._tracks: dict[int, SeenTrack] = {}
        self._transits: defaultdict[tuple[str, str], deque[float]] = defaultdict(lambda: deque(maxlen=KEEP_TRANSITS))
        for pair, gaps in (learned or {}).items():
            self._transits[pair].extend(float(g) for g in gaps)
        self._now_s = float("-inf")

    def observe(self, key: int, camera: str, row: int, t_start_s: float, t_end_s: float, vector: np.ndarray,
                embedding_id: Optional[int], identity_id: Optional[int]) -> Optional[Handoff]:
        """Add one window (D,) of track `key` and return the hand-off it settles, if any (once per track).

        Each window of a track nobody has named yet votes, through the mean of the track's kept windows, for the
        earlier track of another camera it is nearest to (or for nobody, as `decide` says).

        Args:
            row: the track's database id; embedding_id: the window's stored unknown embedding (None: not stored).
            identity_id: the gallery identity the track's votes name now (None: nobody). A named track needs no
                hand-off; an unnamed one is matched against the tracks of other cameras that ended within transit.
        """
        self._now_s = max(self._now_s, t_end_s)
        self._expire()
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = SeenTrack(key, camera, row, t_start_s, t_end_s,
                                                  deque(maxlen=self.keep_windows))
        track.last_end_s = max(track.last_end_s, t_end_s)
        track.windows.append((np.asarray(vector, dtype=np.float32), embedding_id))
        if identity_id is not None:
            track.identity_id = identity_id
        if track.handed_from is not None or track.identity_id is not None:
            return None
        candidates = self._candidates(track, track.vectors().mean(axis=0))  # (D,) the track so far
        if not candidates:
            return None
        voted = self.voter.update(key, decide(candidates, self._thresholds(track, candidates[0])))
        if voted.identity_id is None:
            return None
        source = self._tracks.get(voted.identity_id)
        if source is None:  # the earlier track expired while this one was being voted on
            self.voter.replace_identity(voted.identity_id, None)
            return None
        self.voter.drop(key)
        track.handed_from, track.support = source.key, voted.support
        distance = next(c.distance for c in candidates if c.identity_id == source.key)
        gap = track.gap_after(source)
        timed = distance > self.thresholds.accept_distance
        # only confident hand-offs teach the transit time (the timed ones would feed on themselves), and only
        # when the book uses what it learns (a timed distance)
        learned = not timed and self.timed_distance is not None
        if learned:
            self._transits[(source.camera, camera)].append(gap)
        return Handoff(key, camera, source, distance, voted.support, gap, timed, learned)

    def fits_transit(self, source: str, target: str, gap_s: float) -> bool:
        """Whether `gap_s` seconds from camera `source` to `target` is like what confident hand-offs took."""
        seen = self._transits.get((source, target), ())
        return (len(seen) >= MIN_TRANSITS
                and min(seen) / self.transit_margin <= gap_s <= max(seen) * self.transit_margin)

    def _thresholds(self, track: SeenTrack, nearest: Candidate) -> Thresholds:
        """The gallery's thresholds, or with `timed_distance` when `nearest` (the earlier track this one is
        nearest to) is beyond the gallery's distance and left the time a walk between the cameras takes."""
        if self.timed_distance is None or nearest.distance <= self.thresholds.accept_distance:
            return self.thresholds
        source = self._tracks[nearest.identity_id]
        if not self.fits_transit(source.camera, track.camera, track.gap_after(source)):
            return self.thresholds
        return replace(self.thresholds, accept_distance=max(self.timed_distance, self.thresholds.accept_distance))

    def _candidates(self, track: SeenTrack, vector: np.ndarray) -> tuple[Candidate, ...]:
        """The tracks `track` may continue, nearest first (by the distance of `vector` (D,) to their nearest
        window): on another camera, last seen before it started, no longer ago than the cameras' transit time."""
        out = []
        for other in self._tracks.values():
            gap = track.gap_after(other)
            if other.camera == track.camera or gap < 0 or gap > self.transit_s(other.camera, track.camera):
                continue
            distance = float(np.sqrt(((other.vectors() - vector) ** 2).sum(axis=1).min()))
            out.append(Candidate(other.key, "", distance, -1))
        return tuple(sorted(out, key=lambda c: c.distance))

    def _expire(self) -> None:
        """Forget ended tracks that no later track can continue any more."""
        for key in [k for k, t in self._tracks.items()
                    if t.ended and self._now_s - t.last_end_s > self.max_transit_s]:
            del self._tracks[key]

    def get(self, key: int) -> Optional[SeenTrack]:
        return self._tracks.get(key)

    def end(self, key: int) -> None:
        """The track ended: it is kept as a hand-off source for the transit time, its votes are released."""
        track = self._tracks.get(key)
        if track is not None:
            track.ended = True
        self.voter.drop(key)
        self._expire()

    def clear(self) -> None:
        """Forget every track (the pipeline's time restarted: a seek)."""
        for key in self._tracks:
            self.voter.drop(key)
        self._tracks.clear()

    @property
    def tracks_held(self) -> int:
        """Tracks kept: those in view, and those that ended within the longest transit time."""
        return len(self._tracks)
