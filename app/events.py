"""What the pipeline tells its listeners (the GUI, the CLI progress line, tests): plain, immutable values.

The pipeline runner produces one `FrameResult` per processed frame and `MatchEvent`/`AlertEvent`s as they happen.
Listeners never reach into the pipeline's state: everything they show comes from these values, so the GUI can
render a replay and a live run the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from capture.tracking import TrackState

__all__ = ["AlertEvent", "Decision", "FrameResult", "IdentityDecision", "MatchEvent", "TrackState", "TrackView"]


class Decision(StrEnum):
    """A track's identity decision: `match` names someone; `pending` until the voter has enough windows;
    `unknown` (nobody close enough) and `ambiguous` (two people about as close) name nobody."""

    PENDING = "pending"
    MATCH = "match"
    UNKNOWN = "unknown"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class IdentityDecision:
    """Who a track is, as the voter last decided: the one record of it that the matcher, the events, the CLI
    and the window all pass along."""

    decision: Decision = Decision.PENDING
    id: int | None = None           # the gallery identity named (None: nobody)
    name: str | None = None
    confidence: float = 0.0         # in [0, 1]; 0 when nobody is named
    # joint, component and limb distance of the window to the named person, or, while nobody is named, to the
    # nearest enrolled person (how far the track is from being named); None: no enrolled person to measure
    level_distances: tuple[float, float, float] | None = None

    @property
    def label(self) -> str:
        """The name, or what the decision says when there is none."""
        if self.name:
            return self.name
        return {Decision.PENDING: "…", Decision.AMBIGUOUS: "ambiguous"}.get(self.decision, "unknown")


@dataclass(frozen=True)
class TrackView:
    """One tracked person as shown on screen."""

    track_id: int
    state: TrackState               # tentative, confirmed or lost (deleted tracks are not shown)
    joints_3d: np.ndarray           # (20, 3) float32, camera frame metres (x right, y down, z forward)
    keypoints_2d: np.ndarray | None  # (20, 2) float32 pixels in the color image, or None when not projectable
    confidence: np.ndarray          # (20,) float32 per-joint confidence in [0, 1]
    age_s: float                    # time since the track was created
    identity: IdentityDecision = field(default_factory=IdentityDecision)
    observed: bool = True           # a skeleton was assigned this frame (else: coasting or lost, last pose shown)
    box: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) pixels of this frame's skeleton
    camera: str = ""                # the camera that sees it (its source's name, or the name given to it)


@dataclass(frozen=True)
class FrameResult:
    """Everything about one processed frame."""

    frame_index: int
    timestamp_s: float
    color: np.ndarray | None        # (H, W, 3) uint8 BGR
    depth_m: np.ndarray | None      # (H, W) float32 metres, 0 = hole
    tracks: tuple[TrackView, ...]
    fps: float                      # processing rate over the last second
    dropped_frames: int             # frames dropped under load since start (live mode only; replay never drops)
    duration_s: float | None = None  # length of the medium when known (replay), for the timeline
    windows_encoded: int = 0        # windows encoded so far
    camera: str = ""                # the camera the frame comes from (several cameras share one pipeline)


@dataclass(frozen=True)
class AlertEvent:
    """A watchlist rule fired."""

    timestamp_s: float
    frame_index: int
    track_id: int
    identity_id: int | None
    identity_name: str | None
    rule: str
    snapshot: np.ndarray | None = field(default=None, repr=False)  # (h, w, 3) uint8 BGR crop, or None


@dataclass(frozen=True)
class MatchEvent:
    """One track window was encoded and matched against the gallery (the CLI prints these as "windows")."""

    timestamp_s: float              # end of the window
    track_id: int
    start_s: float                  # start of the window
    frames: int                     # frames in the window
    identity: IdentityDecision      # the track's decision after this window
    camera: str = ""                # the camera the track is on
