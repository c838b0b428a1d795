"""A multi-person synthetic scene: people entering a floor area, crossing it and leaving."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reid.errors import DatasetError
from reid.synthetic.body import DEFAULT_CAMERA_HEIGHT_M, BodyParams, make_identities
from reid.synthetic.walker import walk


class SceneTrack(NamedTuple):
    """One person in a synthetic scene: who, the scene frame where they appear, and their joints."""

    identity: str
    start_frame: int
    joints: np.ndarray  # (T, 20, 3) camera frame metres, clean


def _edge_point(rng: np.random.Generator, bounds: tuple[float, float, float, float], edge: int) -> np.ndarray:
    x0, x1, z0, z1 = bounds
    u = rng.uniform(0.1, 0.9)
    return [np.array([x0, z0 + u * (z1 - z0)]), np.array([x1, z0 + u * (z1 - z0)]),
            np.array([x0 + u * (x1 - x0), z0]), np.array([x0 + u * (x1 - x0), z1])][edge]


def scene_tracks(n_people: int, seconds: float, fps: float = 30.0,
                 room: tuple[float, float, float, float] = (-2.0, 2.0, 1.5, 6.0), seed: int = 0, *,
                 camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
                 identities: list[BodyParams] | None = None) -> list[SceneTrack]:
    """People entering the floor area `room`, crossing it in a straight line and leaving.

    Each person enters at a random time in the first 60% of the scene from a random edge and leaves through
    another edge (paths cross). The track ends when the person leaves the room or the scene ends.

    Args:
        n_people: how many people (identities "syn000"... from `seed` unless `identities` is given).
        seconds: scene duration; fps: frames per second.
        room: floor rectangle (x_min, x_max, z_min, z_max) in metres, camera frame.
    Returns:
        SceneTracks sorted by start frame; joints are clean (add_sensor_noise if wanted).
    Raises:
        DatasetError: for a room with no area or too few identities.
    """
    x0, x1, z0, z1 = room
    if x1 <= x0 or z1 <= z0:
        raise DatasetError(f"synthetic scene: room bounds {room} have no area; give (x_min, x_max, z_min, z_max)")
    people = identities if identities is not None else make_identities(n_people, seed)
    if len(people) < n_people:
        raise DatasetError(f"synthetic scene: {n_people} people asked but {len(people)} identities given")
    rng = np.random.default_rng([seed, 2])
    total = int(round(seconds * fps))
    tracks = []
    for params in people[:n_people]:
        start_frame = int(rng.integers(0, max(1, int(total * 0.6))))
        entry_edge = int(rng.integers(0, 4))
        exit_edge = int(rng.choice([e for e in range(4) if e != entry_edge]))
        a, b = _edge_point(rng, room, entry_edge), _edge_point(rng, room, exit_edge)
        heading = float(np.arctan2(b[0] - a[0], b[1] - a[1]))
        duration = min(np.linalg.norm(b - a) / params.speed_mps, (total - start_frame) / fps)
        if duration * fps < 1:
            continue
        joints = walk(params, duration, fps, (a[0], -camera_height_m, a[1]), heading, rng)
        tracks.append(SceneTrack(params.identity, start_frame, joints))
    return sorted(tracks, key=lambda track: track.start_frame)
