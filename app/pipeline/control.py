"""Playback control shared by the caller's thread and the source worker: pause, step, seek, speed and pacing.

This is the only state two pipeline threads touch directly, so it sits behind one lock and one condition; every
other exchange goes through queues.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from core.errors import SkelwatchError

MIN_SPEED, MAX_SPEED = 0.25, 8.0
_WAKE_S = 0.05  # longest sleep between looks at the stop event while paused or pacing


class ControlError(SkelwatchError):
    """A playback request that the source cannot honour (seek on a live camera, a speed out of range)."""


def check_speed(speed: float | None) -> float | None:
    """None (as fast as possible) or a multiple of real time in [0.25, 8]."""
    if speed is None:
        return None
    value = float(speed)
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise ControlError(f"replay speed {speed!r} is out of range: give {MIN_SPEED}x to {MAX_SPEED}x, "
                           "or None for as fast as possible")
    return value


class PlaybackControl:
    """Pause / step / seek / speed for the source worker, and the pacing of replay against the wall clock.

    Args:
        speed: multiple of real time, or None for as fast as possible (headless replay, benchmarks).
        paced: False for live sources, which arrive at their own rate.
    """

    def __init__(self, speed: float | None = 1.0, paced: bool = True) -> None:
        self._cond = threading.Condition()
        self._speed = check_speed(speed)
        self._paced = paced
        self._paused = False
        self._steps = 0
        self._seek: float | None = None
        self._anchor: tuple[float, float] | None = None  # (wall clock s, media timestamp s) when pacing began
        self._holding = False  # the source waits in `wait_turn` for a resume, a step or a seek

    # --- requests from the caller's thread -------------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._anchor = None

    def resume(self) -> None:
        with self._cond:
            self._paused, self._steps, self._anchor = False, 0, None
            self._cond.notify_all()

    def step(self, frames: int = 1) -> None:
        """While paused, let `frames` more frames through."""
        if frames < 1:
            raise ControlError(f"step frames={frames}: give 1 or more")
        with self._cond:
            self._paused = True
            self._steps += frames
            self._cond.notify_all()

    def seek(self, t_s: float) -> None:
        with self._cond:
            self._seek, self._anchor = float(t_s), None
            self._cond.notify_all()

    def set_speed(self, speed: float | None) -> None:
        with self._cond:
            self._speed, self._anchor = check_speed(speed), None
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def speed(self) -> float | None:
        return self._speed

    @property
    def holding(self) -> bool:
        """The source is paused between frames: nothing more is read until a resume, a step or a seek."""
        return self._holding

    @property
    def seek_pending(self) -> bool:
        """A seek was asked for and the source has not taken it yet."""
        return self._seek is not None

    # --- used by the source worker ---------------------------------------------------------------------------
    def take_seek(self) -> float | None:
        with self._cond:
            target, self._seek = self._seek, None
            return target

    def wait_turn(self, stop: threading.Event) -> bool:
        """Block while paused without a step credit; returns False when `stop` was set meanwhile.

        A pending seek also ends the wait, so seeking while paused shows the new position at once (one frame).
        """
        with self._cond:
            while self._paused and self._steps == 0 and self._seek is None:
                if stop.is_set():
                    return False
                self._holding = True
                self._cond.wait(_WAKE_S)
            self._holding = False
            if self._paused and self._steps > 0:
                self._steps -= 1
            return not stop.is_set()

    def pace(self, timestamp_s: float, stop: threading.Event) -> None:
        """Sleep until the frame at media time `timestamp_s` is due at the current speed (replay only)."""
        while True:
            with self._cond:
                if not self._paced or self._speed is None or self._paused or self._seek is not None:
                    return
                now = time.monotonic()
                if self._anchor is None or timestamp_s < self._anchor[1]:
                    self._anchor = (now, timestamp_s)
                    return
                due = self._anchor[0] + (timestamp_s - self._anchor[1]) / self._speed
                if now >= due or stop.is_set():
                    return
                self._cond.wait(min(due - now, _WAKE_S))


class ControlGroup:
    """Several cameras' controls steered as one (MultiPipeline): each camera keeps its own control, because step
    credits, the pacing anchor and a pending seek belong to the one source that takes them; a request goes to all.

    Args:
        controls: every camera's control.
        running: the controls whose source still reads (a failed or ended camera neither pauses nor holds).
    """

    def __init__(self, controls: list[PlaybackControl], running: Callable[[], list[PlaybackControl]]) -> None:
        self.controls, self._running = controls, running

    def pause(self) -> None:
        for control in self.controls:
            control.pause()

    def resume(self) -> None:
        for control in self.controls:
            control.resume()

    def step(self, frames: int = 1) -> None:
        """Let `frames` more frames of every camera through."""
        for control in self.controls:
            control.step(frames)

    def set_speed(self, speed: float | None) -> None:
        check_speed(speed)  # one bad value changes no camera
        for control in self.controls:
            control.set_speed(speed)

    def seek(self, t_s: float) -> None:
        """Every camera to media time `t_s` of the shared clock."""
        for control in self.controls:
            control.seek(t_s)

    @property
    def paused(self) -> bool:
        return all(control.paused for control in self._running())

    @property
    def holding(self) -> bool:
        """Every camera still reading waits between frames."""
        return all(control.holding for control in self._running())
