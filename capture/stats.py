"""Where skeletons go between pose and the encoder: the tracker's and the window buffer's counters.

This is what a site reads when re-ID seems silent: are people detected, are they tracked, are their windows
made, and if not, which rule refuses them. The counters only grow; `merged` adds two runs (a seek replaces the
tracker and the buffer).
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class _Counters:
    def merged(self, other: "_Counters") -> "_Counters":
        """A new counter set holding the sums of both."""
        return type(self)(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass
class TrackerStats(_Counters):
    """What the tracker did with the skeletons it was given."""

    frames: int = 0
    skeletons: int = 0  # given to the tracker
    unusable: int = 0  # no confident finite joint (NaN skeletons), no body centre
    low_score: int = 0  # below the tracker's high_score: second pass only, never a birth
    image_frames: int = 0  # frames associated in the image (no trustworthy depth)
    to_confirmed: int = 0  # skeletons assigned to a confirmed track
    to_tentative: int = 0  # assigned to a track not yet confirmed
    second_pass: int = 0  # low-score skeletons taken by the second pass (ByteTrack)
    births: int = 0  # new tentative tracks
    births_refused: int = 0  # unassigned skeletons a live track already explains (duplicates)
    low_unassigned: int = 0  # low-score skeletons nobody took
    confirmations: int = 0
    reacquisitions: int = 0  # lost tracks that came back (directly or by merging a new track)
    lost: int = 0
    tentative_dropped: int = 0  # tentative tracks deleted before confirmation


@dataclass
class BufferStats(_Counters):
    """What the window buffer made of the tracks' frames, and why it refused what it refused."""

    frames_in: int = 0  # assigned skeletons pushed
    frames_filled: int = 0  # frames the window rate asked for that were interpolated across a short miss
    joints_filled: int = 0  # joints missing or unsure in a window, filled from their neighbours in time
    windows: int = 0  # windows made
    refused_gap: int = 0  # segments cut by a gap longer than max_gap_s
    refused_missing_joints: int = 0  # windows not made: a joint never usable in the window
    refused_low_confidence: int = 0  # skeletons dropped: too few confident joints to place the body
    refused_too_short: int = 0  # segments ended before they held one window
    dropped: int = 0  # windows dropped because the encoder fell behind


def accounting_lines(tracker: TrackerStats, buffer: BufferStats) -> list[str]:
    """The per-stage account the headless commands print at the end of a run."""
    per_frame = tracker.skeletons / tracker.frames if tracker.frames else 0.0
    return [
        f"skeletons: {tracker.skeletons} ({per_frame:.2f}/frame), {tracker.to_confirmed} to a confirmed track, "
        f"{tracker.to_tentative} to a tentative one, {tracker.unusable} unusable, {tracker.low_score} low-score "
        f"({tracker.second_pass} taken by the second pass), {tracker.births_refused} duplicates refused; "
        f"{tracker.image_frames} of {tracker.frames} frames associated in the image",
        f"tracks: {tracker.births} born, {tracker.confirmations} confirmed, {tracker.reacquisitions} reacquired, "
        f"{tracker.lost} lost, {tracker.tentative_dropped} dropped before confirmation",
        f"windows: {buffer.windows} made from {buffer.frames_in} frames ({buffer.frames_filled} frames and "
        f"{buffer.joints_filled} joints filled); refused: {buffer.refused_gap} gap, "
        f"{buffer.refused_missing_joints} missing joints, {buffer.refused_low_confidence} low confidence, "
        f"{buffer.refused_too_short} too short; {buffer.dropped} dropped (encoder behind)",
    ]
