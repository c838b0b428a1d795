"""Config sections -> pipeline parts: the one place the runner's stages get their constructor arguments.

Every factory returns a zero-argument callable, because each stage builds its object on the thread that owns
it (MediaPipe and torch keep per-thread state; the tracker and buffer are rebuilt after a seek).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from app.config import SkelwatchConfig
from app.pipeline.runner import Listener, Pipeline, PipelineOptions
from reid.errors import CheckpointError

if TYPE_CHECKING:
    from capture.buffer import WindowBuffer
    from reid.checkpoint import ModelMeta
    from storage.matching import Thresholds
    from capture.frames import Skeleton3D
    from capture.sources import Source
    from capture.tracking import Tracker
    from reid.model import HiMPC

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
UNTRAINED_VERSION = "untrained"
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "default"


def tracker_factory(config: SkelwatchConfig) -> Callable[[], Tracker]:
    from capture.tracking import Tracker

    settings = config.tracking.model_dump()
    return lambda: Tracker(**settings)


def buffer_factory(config: SkelwatchConfig, frames: int) -> Callable[[], WindowBuffer]:
    """Windows of `frames` frames (the loaded model's, which may differ from config.model.frames)."""
    from capture.buffer import WindowBuffer

    b = config.buffer
    return lambda: WindowBuffer(frames=frames, stride=b.stride, max_gap_s=b.max_gap_s, interpolate=b.interpolate,
                                max_pending=b.max_pending)


def _encoder_path(config: SkelwatchConfig, model_dir: Path | None) -> tuple[Path, bool]:
    """The checkpoint folder the encoder comes from, and whether the user named it (then it must exist)."""
    named = model_dir or (Path(config.pipeline.model_dir) if config.pipeline.model_dir else None)
    return (named or DEFAULT_MODEL_DIR), named is not None


def _encoder_meta(config: SkelwatchConfig, model_dir: Path | None) -> ModelMeta | None:
    """The description of the encoder `load_encoder_model` would load; None for the untrained stand-in."""
    from reid.checkpoint import read_meta

    path, named = _encoder_path(config, model_dir)
    try:
        return read_meta(path)
    except CheckpointError:
        if named:
            raise
    return None


def encoder_version(config: SkelwatchConfig, model_dir: Path | None = None) -> str:
    """The version of the encoder `load_encoder_model` would load, read from its description only.

    Gallery embeddings carry this version, so the gallery command and the pipeline must agree on it.
    """
    meta = _encoder_meta(config, model_dir)
    return meta.model_version if meta else UNTRAINED_VERSION


def match_thresholds(config: SkelwatchConfig, model_dir: Path | None = None) -> Thresholds:
    """The gallery's match thresholds: gallery.accept_distance when set, else the distance calibrated for the
    encoder (its model.json, `evaluate --calibrate`), else the library default.

    Why the model's: MSMR distances have no fixed scale, so a good threshold belongs to the model, and a newly
    installed model must not be judged by the previous model's number.
    """
    from storage.matching import Thresholds

    g = config.gallery
    if g.accept_distance is not None:
        return Thresholds(g.accept_distance, g.ambiguity_ratio)
    meta = _encoder_meta(config, model_dir)
    if meta is not None and meta.accept_distance is not None:
        return Thresholds(meta.accept_distance, g.ambiguity_ratio)
    fallback = Thresholds(ambiguity_ratio=g.ambiguity_ratio)
    logger.warning("the encoder (%s) has no calibrated match distance and gallery.accept_distance is not set: "
                   "matching at %.3g, which may name nobody; enrol two people or more and run `python main.py "
                   "gallery calibrate`", meta.model_version if meta else UNTRAINED_VERSION, fallback.accept_distance)
    return fallback


def load_encoder_model(config: SkelwatchConfig, model_dir: Path | None = None) -> tuple[HiMPC, int, str]:
    """The encoder model, its window length and its version.

    `model_dir` (or config.pipeline.model_dir) must hold a checkpoint. With neither, the shipped
    models/default is used, and when that is absent too an untrained model (seed 0) stands in, with a warning:
    the pipeline still tracks and cuts windows, but identities mean nothing until a model is trained.

    Raises:
        CheckpointError: a named checkpoint that is missing or corrupt.
    """
    import torch

    from reid.checkpoint import load_model
    from reid.model import HiMPC

    path, named = _encoder_path(config, model_dir)
    try:
        model, meta = load_model(path, expect_joints=20, device=config.pipeline.device)
        return model, meta.frames, meta.model_version
    except CheckpointError:
        if named:
            raise
    logger.warning("no trained model at %s: using an untrained Hi-MPC; identities are meaningless until one is "
                   "trained (python main.py train) or installed", path)
    torch.manual_seed(0)
    m = config.model
    model = HiMPC(20, m.hidden, m.heads, m.align_heading).to(config.pipeline.device).eval()
    return model, m.frames, UNTRAINED_VERSION


def encoder_factory(model: HiMPC, device: str, threads: int) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """A factory, run on the encoder thread, of `encode((B, f, 20, 3) windows) -> (B, 3H) MSMR` numpy arrays."""

    def make() -> Callable[[np.ndarray], np.ndarray]:
        import torch

        torch.set_num_threads(threads)

        def encode(windows: np.ndarray) -> np.ndarray:
            tensor = torch.from_numpy(np.ascontiguousarray(windows)).to(device)  # (B, f, 20, 3)
            return model.encode(tensor).cpu().numpy()  # (B, 3H)

        return encode

    return make


def estimator_factory(config: SkelwatchConfig) -> Callable[[], Any]:
    """The pose estimator with the `pose` section's settings, built on the pose thread (MediaPipe's graph
    belongs to the thread that made it)."""
    settings = config.pose.model_dump()

    def make() -> Any:
        from capture.pose import PoseEstimator

        return PoseEstimator(**settings)

    return make


def gives_skeletons(spec: str) -> bool:
    """Whether the source opened from `spec` hands over every person's skeleton with its frames: the synthetic
    scene, and recordings with a truth sidecar (the demo, recorded synthetic scenes). Skeleton files need no
    flag: their frames have no image to run pose on."""
    from capture.sources.recording_meta import read_sidecar, sidecar_path

    if spec == "synthetic":
        return True
    path = Path(spec)
    if path.suffix.lower() in (".db3", ".bag") and path.is_file():
        meta = read_sidecar(sidecar_path(path))
        return meta is not None and any(meta.truth)
    return False


def options_from(config: SkelwatchConfig, live: bool, speed: float | None, max_seconds: float | None = None,
                 hold_at_end: bool = False) -> PipelineOptions:
    p = config.pipeline
    return PipelineOptions(frame_queue=p.frame_queue, skeleton_queue=p.skeleton_queue, window_queue=p.window_queue,
                           drop_oldest=live and p.live_drop == "oldest", encode_batch=p.encode_batch,
                           encode_every=p.encode_every_frames,
                           stop_timeout_s=p.stop_timeout_s, speed=speed, max_seconds=max_seconds,
                           hold_at_end=hold_at_end)


def build_pipeline(config: SkelwatchConfig, source: Source, *, speed: float | None = 1.0,
                   skeleton_cache: dict[int, list[Skeleton3D]] | None = None, skeletons_given: bool = False,
                   gallery: bool = False, session_label: str | None = None, model_dir: Path | None = None,
                   max_seconds: float | None = None, hold_at_end: bool = False,
                   listeners: tuple[Listener, ...] = ()) -> Pipeline:
    """A ready-to-start pipeline over `source` with every stage configured from `config`.

    Args:
        speed: replay speed (multiple of real time), None = as fast as possible; ignored for live sources.
        skeleton_cache: frame index -> skeletons, used instead of pose (a recorded session's cache).
        skeletons_given: the source's frames carry every person's skeleton (see `gives_skeletons`): no pose.
        gallery: match windows against the configured database (sightings, votes, alerts are stored there,
            filed under `session_label`, default the source's name); False = no gallery, every track "unknown".
        max_seconds: end the stream after this much media time (record --seconds).
        hold_at_end: replay in the GUI: pause at the end instead of finishing, so a seek plays it again.
    Raises:
        CheckpointError: a named model that cannot be loaded.
        (StorageError from the encoder thread, through Listener.on_error: the database cannot be opened.)
    """
    model, frames, version = load_encoder_model(config, model_dir)
    make_matcher = None
    if gallery:
        from app.pipeline.matcher import gallery_matcher_factory

        make_matcher = gallery_matcher_factory(config, version, model.msmr_dim, session_label or source.name,
                                               device=source.name)
    return Pipeline(
        source, tracker_factory(config), buffer_factory(config, frames),
        make_estimator=estimator_factory(config),
        make_encoder=encoder_factory(model, config.pipeline.device, config.pipeline.threads),
        make_matcher=make_matcher, skeleton_cache=skeleton_cache, skeletons_given=skeletons_given,
        options=options_from(config, source.is_live, speed, max_seconds, hold_at_end), listeners=listeners)
