"""Config section of the pipeline runner: queue sizes, the live drop policy, encoding and the default source."""
from typing import Literal

from pydantic import Field

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
