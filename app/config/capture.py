"""Config sections of capture/: multi-person pose, multi-person tracking and the streaming window buffer."""
from typing import Literal, Optional

from pydantic import Field, model_validator

from app.config.base import Section


class TrackingConfig(Section):
    """Association of 3D skeletons into tracks; the fields are `capture.tracking.Tracker`'s arguments."""

    motion: Literal["constant_velocity", "static"] = Field(
        "constant_velocity", description="Motion filter per track: a constant-velocity Kalman filter, or static.")
    distance: Literal["mahalanobis", "euclidean"] = Field(
        "mahalanobis", description="Cost of predicted vs observed body centre in the assignment.")
    max_speed_mps: float = Field(
        3.0, gt=0.0, le=15.0, description="Fastest plausible walking speed; the gate grows by it per second unseen.")
    gate_margin_m: float = Field(
        0.4, ge=0.0, le=5.0, description="Noise margin added to the speed gate (centre jitter, depth noise).")
    reacquire_margin_m: float = Field(
        1.0, ge=0.0, le=10.0,
        description="Larger speed-gate margin for a lost track coming back; without embeddings, how close its "
                    "predicted centre must be.")
    confirm_after_s: float = Field(
        0.3, ge=0.0, le=10.0, description="A tentative track seen this long becomes confirmed.")
    lost_after_s: float = Field(
        0.5, gt=0.0, le=30.0, description="A confirmed track unseen this long becomes lost (coasting until then).")
    delete_after_s: float = Field(
        5.0, gt=0.0, le=600.0, description="A lost track unseen this long is deleted and can no longer come back.")
    measurement_noise_m: float = Field(
        0.05, gt=0.0, le=1.0, description="Standard deviation of the observed body centre.")
    acceleration_noise_mps2: float = Field(
        0.5, gt=0.0, le=50.0,
        description="Process noise of the constant-velocity filter (white acceleration); larger follows turns "
                    "better but lets a coasting track reach further.")
    gate_sigmas: float = Field(
        3.0, gt=0.0, le=100.0, description="Second gate: observed centre within this many standard deviations "
                                           "of the predicted one.")
    min_joint_confidence: float = Field(
        0.3, ge=0.0, le=1.0, description="Torso joints below this confidence do not count for the body centre.")
    shape_weight: float = Field(
        2.0, ge=0.0, le=100.0, description="Cost per metre of mean bone-length difference (0 = position only).")
    max_embedding_distance: Optional[float] = Field(
        None, gt=0.0, description="Largest embedding distance at which a new track is merged into a lost one; "
        "unset: the model's match distance, the one the gallery uses (gallery.accept_distance or the model's "
        "calibrated one), so the tracker never joins two people the gallery would tell apart.")
    embedding_wait_s: float = Field(
        0.5, ge=0.0, le=30.0, description="How long past confirm_after_s a new track near a lost one that has an "
                                          "embedding waits for its own before deciding by position.")
    history_s: float = Field(30.0, gt=0.0, le=3600.0, description="Seconds of skeletons each track keeps.")
    image_box_noise_h: float = Field(
        0.05, gt=0.0, le=1.0,
        description="Colour-only video: standard deviation of a skeleton box's centre and size between frames, in "
                    "body heights (the box Kalman filter's measurement noise; 0.02-0.06 measured on vtest.avi).")
    image_acceleration_hps2: float = Field(
        0.25, gt=0.0, le=50.0,
        description="Colour-only video: the box Kalman filter's process noise (white acceleration), body heights per "
                    "s^2; larger follows turns sooner but lets box jitter read as motion.")
    appearance_weight: float = Field(
        2.0, ge=0.0, le=100.0,
        description="Colour-only video: association cost per unit of clothing-colour distance (0 to 1) between a "
                    "track and a skeleton; tells apart people who walk side by side (0 = off).")
    appearance_smoothing: float = Field(
        0.05, gt=0.0, le=1.0,
        description="Weight of a new clothing signature in a track's running one; small, since one frame's box may "
                    "hold part of a passer-by.")
    appearance_veto: float = Field(
        0.35, ge=0.0, le=1.0,
        description="Colour-only video: clothing distance above which a confirmed track may not take a skeleton "
                    "dressed like a lost track nearby (0.2 closer); keeps two people who stood together apart "
                    "when one walks out of view (1 = off).")
    appearance_same: float = Field(
        0.15, ge=0.0, le=1.0,
        description="Colour-only video: clothing distance up to which a new track is the one lost track in reach "
                    "dressed like it, even where the lost box no longer predicts it (a walker pose missed for a "
                    "second); 0 = off.")

    @model_validator(mode="after")
    def _durations_ordered(self) -> "TrackingConfig":
        if self.delete_after_s <= self.lost_after_s:
            raise ValueError(f"tracking.delete_after_s={self.delete_after_s} must be larger than "
                             f"tracking.lost_after_s={self.lost_after_s}")
        return self


class BufferConfig(Section):
    """Per-track windows: `capture.buffer.WindowBuffer`'s arguments; the window length comes from model.frames."""

    stride: int = Field(3, ge=1, le=1000, description="New frames between two windows of one track (frames).")
    max_gap_s: float = Field(
        0.2, ge=0.0, le=5.0, description="A window never spans a longer gap; shorter gaps are interpolated.")
    interpolate: bool = Field(
        True, description="Fill missed frames of a short gap by linear interpolation (else the gap ends the window).")
    max_pending: int = Field(
        256, ge=1, le=100000, description="Windows waiting for the encoder; the oldest are dropped beyond this.")


class PoseConfig(Section):
    """Multi-person pose on color frames: `capture.pose.PoseEstimator`'s arguments."""

    proposer: Literal["auto", "depth", "motion", "none"] = Field(
        "auto", description="Where newcomers are looked for: depth foreground, motion + HOG (fixed RGB camera), "
        "the whole image (people over ~150 px tall), or auto (depth when the frame has depth, else motion).")
    min_person_px: float = Field(
        40.0, ge=8.0, le=2000.0, description="Shortest person looked for or followed (pixels).")
    num_poses: int = Field(16, ge=1, le=64, description="Most people returned per frame (the most visible).")
    crop_scale: float = Field(
        1.6, ge=1.0, le=4.0, description="Side of a newcomer's square crop over its proposal's height.")
    min_visibility: float = Field(
        0.3, ge=0.0, le=1.0, description="Skeletons whose mean landmark visibility is below this are dropped.")
    min_presence: float = Field(
        0.5, ge=0.0, le=1.0, description="A followed person whose pose presence (landmark model) falls below "
        "this is lost until proposals find them again.")
    nms_iou: float = Field(
        0.4, gt=0.0, le=1.0, description="Two skeletons whose keypoint boxes overlap more than this are one person.")
    follow_s: float = Field(
        0.5, ge=0.0, le=10.0, description="People found at most this long ago are followed from their landmarks.")
    propose_every_s: float = Field(
        0.2, ge=0.0, le=10.0, description="Seconds between two searches for newcomers (0 = every frame).")
    scan_every_s: Optional[float] = Field(
        None, gt=0.0, le=3600.0, description="Seconds between whole-image searches for people the proposer cannot "
        "see (standing still since before it learned the background); empty = the proposer's own: 5 s for depth "
        "(a detector pass each), 2 s for motion (HOG).")
    threads: int = Field(
        2, ge=1, le=64, description="Landmark passes run at once (people side by side; one per CPU core).")
    person_height_m: float = Field(
        1.70, ge=0.5, le=2.5, description="Assumed stature when lifting to metres without depth.")
