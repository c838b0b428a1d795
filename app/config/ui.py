"""Config section of the desktop GUI: what the operator sees and the settings dialog changes."""
from typing import Literal

from pydantic import Field

from app.config.base import Section


class UIConfig(Section):
    image: Literal["color", "depth"] = Field("color", description="Image shown in the live view.")
    show_skeletons: bool = Field(True, description="Draw each tracked skeleton over the image.")
    show_lost: bool = Field(
        False, description="Also draw tracks not seen this frame (coasting or lost), dashed, at their last pose.")
    depth_max_m: float = Field(6.0, gt=0.1, le=50.0, description="Depth mapped to the far end of the colour map.")
    recent_tracks_s: float = Field(
        60.0, ge=0.0, le=3600.0, description="How long an ended track stays in the tracks panel.")
    top_k: int = Field(5, ge=1, le=50, description="Gallery neighbours listed for the selected track.")
    replay_speed: float = Field(1.0, ge=0.25, le=8.0, description="Replay speed when a recording opens.")
    loop_replay: bool = Field(True, description="Start a recording again when it ends (the demo keeps playing).")
    sessions_dir: str = Field(
        "", description="Folder of recorded sessions; empty = <home>/sessions.")
    render_fps: float = Field(30.0, ge=1.0, le=120.0, description="Most frames per second the live view repaints.")
