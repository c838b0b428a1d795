"""The tracker's value types (track states, per-frame updates, state-change events, a track) and the registries
of its replaceable parts (motion filters and centre distances, by name)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

import numpy as np

from capture.association import BoxMotion
from capture.body import BONES
from capture.motion import (ConstantVelocityFilter, Distance, EuclideanDistance, MahalanobisDistance, MotionFilter,
                            StaticFilter)
from core.errors import SkelwatchError

if TYPE_CHECKING:
    from capture.frames import Skeleton3D

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
    tentative id under which it was seen meanwhile (that id ends here; its frames now belong to `track_id`), or
    None when the lost track took the person's skeleton directly."""

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
    box: BoxMotion | None = field(default=None, repr=False)  # its box in the image, when skeletons have one
    appearance: np.ndarray | None = field(default=None, repr=False)  # (D,) running clothing signature, unit
