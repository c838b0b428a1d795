"""The tracker's replaceable parts: how a body centre moves between frames, and how far a detection is from it.

Kept apart from `capture.tracking` so a new motion model or distance is one small class here plus one entry in
the tracker's name registries (`MOTION_FILTERS`, `DISTANCES`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class MotionFilter(ABC):
    """Estimates one body centre over time; the same noise model on x, y and z (isotropic)."""

    def __init__(self, centre: np.ndarray, timestamp_s: float, measurement_noise_m: float,
                 acceleration_noise_mps2: float) -> None:
        self._r2 = measurement_noise_m ** 2
        self._q = acceleration_noise_mps2 ** 2
        self._t = timestamp_s

    @abstractmethod
    def predict_to(self, timestamp_s: float) -> None:
        """Advance the estimate to `timestamp_s` (never earlier than the last call)."""

    @abstractmethod
    def update(self, centre: np.ndarray) -> None:
        """Fold in an observed (3,) centre at the current time."""

    @property
    @abstractmethod
    def position(self) -> np.ndarray:
        """(3,) predicted centre, metres."""

    @property
    @abstractmethod
    def variance(self) -> float:
        """Per-axis variance (m^2) of an observation around `position`: prediction plus measurement noise."""


class ConstantVelocityFilter(MotionFilter):
    """Kalman filter on [position, velocity] per axis with white-acceleration process noise.

    The three axes share one 2x2 covariance (same noise everywhere), which keeps an update to a few scalar
    operations; a full 6x6 filter would cost ~10x more per track for no gain with isotropic noise.
    """

    INITIAL_SPEED_STD_MPS = 1.5  # a new person's velocity is unknown: about a walking speed

    def __init__(self, centre: np.ndarray, timestamp_s: float, measurement_noise_m: float,
                 acceleration_noise_mps2: float) -> None:
        super().__init__(centre, timestamp_s, measurement_noise_m, acceleration_noise_mps2)
        self._pos = np.array(centre, dtype=np.float64)  # (3,)
        self._vel = np.zeros(3)  # (3,)
        # The shared covariance as Python floats: numpy's per-call overhead dominates on 2x2 matrices.
        self._p00, self._p01, self._p11 = self._r2, 0.0, self.INITIAL_SPEED_STD_MPS ** 2

    def predict_to(self, timestamp_s: float) -> None:
        dt = timestamp_s - self._t
        if dt <= 0.0:
            return
        self._t = timestamp_s
        self._pos = self._pos + dt * self._vel
        p00, p01, p11, q = self._p00, self._p01, self._p11, self._q
        self._p00 = p00 + 2.0 * dt * p01 + dt * dt * p11 + q * dt ** 3 / 3.0
        self._p01 = p01 + dt * p11 + q * dt * dt / 2.0
        self._p11 = p11 + q * dt

    def update(self, centre: np.ndarray) -> None:
        p00, p01, p11 = self._p00, self._p01, self._p11
        s = p00 + self._r2
        k0, k1 = p00 / s, p01 / s
        innovation = centre - self._pos
        self._pos = self._pos + k0 * innovation
        self._vel = self._vel + k1 * innovation
        self._p00, self._p01, self._p11 = p00 - k0 * p00, p01 - k0 * p01, p11 - k1 * p01

    @property
    def position(self) -> np.ndarray:
        return self._pos

    @property
    def variance(self) -> float:
        return self._p00 + self._r2


class StaticFilter(MotionFilter):
    """The last observed centre, no velocity: a baseline. Its spread grows as if the unknown speed had a
    standard deviation of acceleration_noise_mps2 x 1 s."""

    def __init__(self, centre: np.ndarray, timestamp_s: float, measurement_noise_m: float,
                 acceleration_noise_mps2: float) -> None:
        super().__init__(centre, timestamp_s, measurement_noise_m, acceleration_noise_mps2)
        self._centre = np.array(centre, dtype=np.float64)
        self._seen_s = timestamp_s

    def predict_to(self, timestamp_s: float) -> None:
        self._t = max(self._t, timestamp_s)

    def update(self, centre: np.ndarray) -> None:
        self._centre = np.array(centre, dtype=np.float64)
        self._seen_s = self._t

    @property
    def position(self) -> np.ndarray:
        return self._centre

    @property
    def variance(self) -> float:
        return self._r2 + self._q * (self._t - self._seen_s) ** 2


class Distance(ABC):
    """Cost of observed centres against predicted ones; lower is more alike."""

    @abstractmethod
    def __call__(self, predicted: np.ndarray, variance: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """(N, 3) predictions with (N,) per-axis variances, (M, 3) observations -> (N, M) costs."""


class EuclideanDistance(Distance):
    """Plain distance in metres: ignores how sure each prediction is."""

    def __call__(self, predicted: np.ndarray, variance: np.ndarray, observed: np.ndarray) -> np.ndarray:
        return np.linalg.norm(predicted[:, None, :] - observed[None, :, :], axis=2)


class MahalanobisDistance(Distance):
    """Distance in standard deviations of each prediction: a track unseen for a while may match further away."""

    def __call__(self, predicted: np.ndarray, variance: np.ndarray, observed: np.ndarray) -> np.ndarray:
        d2 = ((predicted[:, None, :] - observed[None, :, :]) ** 2).sum(axis=2)  # (N, M)
        return np.sqrt(d2 / variance[:, None])
