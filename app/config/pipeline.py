"""Config section of the pipeline runner: queue sizes, the live drop policy, encoding and the default source."""
from typing import Literal, Optional

from pydantic import Field, field_validator

from app.config.base import Section, TorchDevice


class PipelineConfig(Section):
    source: str = Field(
        "demo", description="Default source: demo, synthetic, realsense[:SERIAL], a video, a .db3/.bag, a session "
        "folder or a skeleton file.")
    frame_queue: int = Field(4, ge=1, le=256, description="Frames waiting between the source and pose.")
    skeleton_queue: int = Field(8, ge=1, le=1024, description="Frames with skeletons waiting for tracking.")
    window_queue: int = Field(64, ge=1, le=65536, description="Batches of track windows waiting for the encoder.")
    live_drop: Literal["oldest", "none"] = Field(
        "oldest", description="Live sources under load: drop the oldest waiting frame (counted), or block the "
        "camera reader (frames are then lost inside the SDK instead). Replay never drops.")
    encode_batch: int = Field(32, ge=1, le=4096, description="Most windows encoded in one forward pass.")
    encode_every_frames: int = Field(
        3, ge=1, le=300, description="Frames between two hand-overs of windows to the encoder: one forward pass "
        "per few frames is cheaper; identities arrive up to this many frames later.")
    device: TorchDevice = Field("cpu", description="Torch device of the encoder; CPU always works.")
    threads: int = Field(1, ge=1, le=256, description="CPU threads torch may use in the encoder worker.")
    model_dir: str = Field(
        "", description="Checkpoint folder of the encoder; empty = the shipped models/default.")
    stop_timeout_s: float = Field(5.0, gt=0.0, le=120.0, description="Time each worker gets to finish on stop.")
    flush_interval_s: float = Field(
        0.5, gt=0.0, le=1.0, description="Most time recorded skeletons stay in memory before reaching the disk.")


class HandoffConfig(Section):
    """Several cameras: when a track starting on one camera continues a track that left another (`run --source A
    --source B`). The match itself uses the gallery's distance and votes (`gallery.*`)."""

    enabled: bool = Field(True, description="Match a track starting on one camera to a track that ended on "
                          "another within the transit time; an unenrolled person becomes a 'visitor' identity.")
    transit_s: float = Field(
        30.0, gt=0.0, le=86_400.0, description="Longest time (s) a person takes from leaving one camera's view to "
        "entering another's, for every pair of cameras not listed in pair_transit_s. Longer accepts slower walkers "
        "but offers more earlier tracks to choose from.")
    pair_transit_s: dict[str, float] = Field(
        default_factory=dict, description="Transit time (s) per ordered camera pair, keyed 'A->B' (camera names "
        "as given to --source NAME=SPEC, or cam1, cam2, ...); overrides transit_s for people going from A to B.")
    keep_windows: int = Field(32, ge=1, le=10_000, description="Windows kept per track to match a hand-off with.")
    accept_distance: Optional[float] = Field(
        None, gt=0.0, description="Window distance under which a new track may continue an earlier one; empty = "
        "the gallery's (gallery.accept_distance, else the model's calibrated distance). The transit time already "
        "leaves few earlier tracks to choose from, so a site may widen it: `python -m bench.handoff` measures both.")

    learn_transit: bool = Field(
        True, description="Learn how long people take between two cameras from confident hand-offs (within the "
        "gallery's distance) and let a new track whose time since an earlier track fits those times continue it "
        "up to timed_accept_distance.")
    timed_accept_distance: Optional[float] = Field(
        None, gt=0.0, description="Distance under which a new track continues an earlier one whose time apart fits "
        "the learned transit times; empty = the model's hand-off distance (its model.json, `evaluate "
        "--calibrate-handoff`), and a model without one gets no such hand-offs.")
    transit_margin: float = Field(
        2.0, ge=1.0, le=10.0, description="A time apart fits the learned transit times when it lies between their "
        "shortest divided by this and their longest times this.")

    @field_validator("pair_transit_s")
    @classmethod
    def _pairs(cls, value: dict[str, float]) -> dict[str, float]:
        for key, seconds in value.items():
            a, sep, b = key.partition("->")
            if not sep or not a.strip() or not b.strip() or a.strip() == b.strip():
                raise ValueError(f"pair {key!r}: write two different camera names as 'A->B'")
            if not 0 < seconds <= 86_400:
                raise ValueError(f"pair {key!r}: {seconds} s must be in (0, 86400]")
        return {f"{k.partition('->')[0].strip()}->{k.partition('->')[2].strip()}": v for k, v in value.items()}

    def transit(self, source: str, target: str) -> float:
        """Transit time (s) from camera `source` to camera `target`."""
        return self.pair_transit_s.get(f"{source}->{target}", self.transit_s)
