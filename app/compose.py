"""The composition root: the one module that turns the config into components.

Packages never read the config (style guide): here each section becomes constructor arguments, and every
component the product runs (encoder, gallery, matcher, tracker, buffer, pose estimator, pipeline, training
settings) is built by a function of this module. The CLI commands, the desktop façade (`app.desktop`), the
benchmarks and the tests all call these, so two front-ends can never build the same thing two ways.

Pipeline parts are returned as zero-argument factories, because each stage builds its object on the thread that
owns it (MediaPipe and torch keep per-thread state; the tracker and buffer are rebuilt after a seek).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from app.config import SkelwatchConfig, home_dir
from app.pipeline.matcher import GalleryMatcher
from app.pipeline.multi import Camera, MultiPipeline
from app.pipeline.runner import Listener, Pipeline, PipelineOptions
from reid.errors import CheckpointError

if TYPE_CHECKING:
    from app.gallery_service import ClusterParams
    from capture.buffer import WindowBuffer
    from capture.frames import Skeleton3D
    from capture.pose import PoseEstimator
    from capture.sources import Source
    from capture.tracking import Tracker
    from reid.checkpoint import ModelMeta
    from reid.model import HiMPC
    from reid.loss import LossSettings
    from reid.train import ClusterSettings, TrainSettings
    from storage.db import Database
    from storage.gallery import Gallery
    from storage.matching import Thresholds

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
UNTRAINED_VERSION = "untrained"
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "default"
UNTRAINED_SEED = 0  # the untrained stand-in is the same model on every start


# --- training ------------------------------------------------------------------------------------------------
def loss_settings(config: SkelwatchConfig) -> LossSettings:
    from reid.loss import LossSettings

    return LossSettings(**config.loss.model_dump())


def cluster_settings(config: SkelwatchConfig) -> ClusterSettings:
    from reid.train import ClusterSettings

    return ClusterSettings(**config.cluster.model_dump())


def train_settings(config: SkelwatchConfig) -> TrainSettings:
    from reid.train import TrainSettings

    t = config.train
    return TrainSettings(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, seed=t.seed, patience=t.patience,
                         selection=t.selection, shuffle=t.shuffle, device=t.device, loss=loss_settings(config),
                         cluster=cluster_settings(config))


def new_model(config: SkelwatchConfig, num_joints: int | None = None, seed: int | None = None) -> HiMPC:
    """A fresh Hi-MPC shaped by `config.model`; with `seed`, its initial weights come from that seed without
    reseeding the process (torch's global generator is restored afterwards)."""
    import torch

    from reid.model import HiMPC
    from reid.skeleton import NUM_CANONICAL

    m = config.model
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        return HiMPC(num_joints or NUM_CANONICAL, m.hidden, m.heads, m.align_heading)


# --- the encoder ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedEncoder:
    """The model the pipeline encodes with, and what travels with it."""

    model: HiMPC
    frames: int                      # window length f
    version: str                     # content hash: gallery embeddings carry it
    meta: ModelMeta | None           # None for the untrained stand-in

    @property
    def dim(self) -> int:
        return self.model.msmr_dim


def _encoder_path(config: SkelwatchConfig, model_dir: Path | None) -> tuple[Path, bool]:
    """The checkpoint folder the encoder comes from, and whether the user named it (then it must exist)."""
    named = model_dir or (Path(config.pipeline.model_dir) if config.pipeline.model_dir else None)
    return (named or DEFAULT_MODEL_DIR), named is not None


def encoder_meta(config: SkelwatchConfig, model_dir: Path | None = None) -> ModelMeta | None:
    """The description of the encoder `load_encoder` would load (None for the untrained stand-in), read without
    loading weights or torch."""
    from reid.checkpoint import read_meta

    path, named = _encoder_path(config, model_dir)
    try:
        return read_meta(path)
    except CheckpointError:
        if named:
            raise
    return None


def load_encoder(config: SkelwatchConfig, model_dir: Path | None = None) -> LoadedEncoder:
    """The encoder: `model_dir`, else config.pipeline.model_dir, else the shipped models/default.

    When nothing was named and the shipped model is absent too, an untrained model stands in, with a warning:
    the pipeline still tracks and cuts windows, but identities mean nothing until a model is trained.

    Raises:
        CheckpointError: a named checkpoint that is missing or corrupt.
    """
    from reid.checkpoint import load_model
    from reid.skeleton import NUM_CANONICAL

    path, named = _encoder_path(config, model_dir)
    try:
        model, meta = load_model(path, expect_joints=NUM_CANONICAL, device=config.pipeline.device)
        return LoadedEncoder(model, meta.frames, meta.model_version, meta)
    except CheckpointError:
        if named:
            raise
    logger.warning("no trained model at %s: using an untrained Hi-MPC; identities are meaningless until one is "
                   "trained (./skelwatch train) or installed", path)
    model = new_model(config, seed=UNTRAINED_SEED).to(config.pipeline.device).eval()
    return LoadedEncoder(model, config.model.frames, UNTRAINED_VERSION, None)


def encoder_factory(encoder: LoadedEncoder, config: SkelwatchConfig) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """A factory, run on the encoder thread, of `encode((B, f, 20, 3) windows) -> (B, 3H) MSMR` numpy arrays."""
    device, threads, model = config.pipeline.device, config.pipeline.threads, encoder.model

    def make() -> Callable[[np.ndarray], np.ndarray]:
        import torch

        torch.set_num_threads(threads)

        def encode(windows: np.ndarray) -> np.ndarray:
            tensor = torch.from_numpy(np.ascontiguousarray(windows)).to(device)  # (B, f, 20, 3)
            return model.encode(tensor).cpu().numpy()  # (B, 3H)

        return encode

    return make


# --- the gallery -------------------------------------------------------------------------------------------------
def database_location(config: SkelwatchConfig, override: str | None = None) -> str:
    """The gallery database: `override` (a --db option), else config storage.url, else `<home>/skelwatch.db`."""
    return override or config.storage.url or str(home_dir() / "skelwatch.db")


def open_db(config: SkelwatchConfig, override: str | None = None) -> Database:
    """Open (and migrate) the gallery database. Raises StorageError: locked, corrupt or newer schema."""
    from storage.db import open_database

    return open_database(database_location(config, override), busy_timeout_s=config.storage.busy_timeout_s)


def match_distance(config: SkelwatchConfig, meta: ModelMeta | None) -> float | None:
    """gallery.accept_distance when set, else the distance calibrated for the encoder described by `meta` (its
    model.json, `evaluate --calibrate`); None when neither exists.

    Why the model's: MSMR distances have no fixed scale, so a good threshold belongs to the model, and a newly
    installed model must not be judged by the previous model's number.
    """
    if config.gallery.accept_distance is not None:
        return config.gallery.accept_distance
    return meta.accept_distance if meta is not None else None


def match_thresholds(config: SkelwatchConfig, meta: ModelMeta | None) -> Thresholds:
    """The open-set thresholds at `match_distance`, else at the library default, announced."""
    from storage.matching import Thresholds

    g = config.gallery
    distance = match_distance(config, meta)
    if distance is not None:
        return Thresholds(distance, g.ambiguity_ratio)
    fallback = Thresholds(ambiguity_ratio=g.ambiguity_ratio)
    logger.warning("the encoder (%s) has no calibrated match distance and gallery.accept_distance is not set: "
                   "matching at %.3g, which may name nobody; enrol two people or more and run `./skelwatch "
                   "gallery calibrate`", meta.model_version if meta else UNTRAINED_VERSION, fallback.accept_distance)
    return fallback


def open_gallery(config: SkelwatchConfig, version: str, dim: int | None, *, meta: ModelMeta | None = None,
                 db_url: str | None = None) -> Gallery:
    """The gallery of embeddings of model `version` (size `dim`; None: as stored, else gallery.dim) in the
    configured database (or `db_url`). The caller owns it: `gallery.db.dispose()` when done.

    Args:
        meta: the encoder's description, for its calibrated match distance.
    Raises:
        StorageError: the database cannot be opened, or holds `version` with another size.
    """
    from storage.gallery import Gallery, stored_dim

    g = config.gallery
    db = open_db(config, db_url)
    try:
        return Gallery(db, version, dim=dim or stored_dim(db, version) or g.dim,
                       thresholds=match_thresholds(config, meta), approximate_above=g.approximate_above,
                       target_recall=g.target_recall, top_k=g.top_k)
    except BaseException:
        db.dispose()
        raise


def unknown_clustering(config: SkelwatchConfig) -> ClusterParams:
    """How unknown windows are clustered into candidates, for the CLI and the window alike."""
    from app.gallery_service import ClusterParams

    c = config.cluster
    return ClusterParams(eps=c.eps, min_samples=c.min_samples, k1=c.k1, k2=c.k2, normalize=c.normalize)


def make_matcher(config: SkelwatchConfig, gallery: Gallery, start_session: Callable[[], int], *,
                 owns_database: bool, cameras: tuple[str, ...] = ("",), meta: ModelMeta | None = None
                 ) -> GalleryMatcher:
    """The pipeline's matcher over `gallery`: votes, sightings and alerts as configured, and with several
    `cameras` (named in the order their trackers share out ids) the hand-off between them, with the hand-off
    distance of the encoder described by `meta`."""
    from storage.alerts import AlertEngine
    from storage.handoff import HandoffBook
    from storage.live import SightingRecorder
    from storage.matching import TrackVoter
    from storage.transits import load_transits

    g, h = config.gallery, config.handoff

    def voter() -> TrackVoter:  # the gallery's votes, for the gallery and for hand-offs alike
        return TrackVoter(g.vote_window, g.vote_enter, g.vote_keep, g.vote_min_windows)

    recorder = SightingRecorder(gallery, voter=voter(), alerts=AlertEngine(gallery.db),
                                store_unknown_windows=g.store_unknown_windows)
    handoff = None
    if len(cameras) > 1 and h.enabled:
        thresholds = gallery.thresholds if h.accept_distance is None else replace(
            gallery.thresholds, accept_distance=h.accept_distance)
        timed = h.timed_accept_distance if h.timed_accept_distance is not None else (
            meta.handoff_distance if meta is not None else None)
        learning = h.learn_transit and timed is not None
        handoff = HandoffBook(thresholds, voter(), h.transit, max([h.transit_s, *h.pair_transit_s.values()]),
                              h.keep_windows, timed_distance=timed if learning else None,
                              transit_margin=h.transit_margin, learned=load_transits(gallery.db) if learning else None)
    return GalleryMatcher(recorder, start_session, g.vote_min_windows, owns_database=owns_database,
                          handoff=handoff, cameras=cameras)


def gallery_matcher_factory(config: SkelwatchConfig, encoder: LoadedEncoder, session_path: Path | str,
                            device: str = "", manifest: dict[str, Any] | None = None,
                            cameras: tuple[str, ...] = ("",)) -> Callable[[], GalleryMatcher]:
    """A factory (run on the encoder thread) of a matcher over its own connection to the configured database.

    Args:
        session_path: the session folder (or source) the sightings are filed under.
        cameras: several cameras' names (one session holds every camera's tracks; see `make_matcher`).
    Raises (when called):
        StorageError: the database cannot be opened (locked, corrupt, newer schema).
    """

    def make() -> GalleryMatcher:
        from storage.db import shown_url
        from storage.sessions import create_session

        gallery = open_gallery(config, encoder.version, encoder.dim, meta=encoder.meta)
        logger.info("matching against %s: model %s, %d embeddings indexed", shown_url(gallery.db.url),
                    encoder.version, len(gallery.index))
        return make_matcher(config, gallery,
                            lambda: create_session(gallery.db, session_path, device=device, manifest=manifest or {}),
                            owns_database=True, cameras=cameras, meta=encoder.meta)

    return make


# --- capture -------------------------------------------------------------------------------------------------
def reacquire_distance(config: SkelwatchConfig, encoder: LoadedEncoder) -> float | None:
    """The embedding distance under which the tracker joins a new track to a lost one: tracking's own setting,
    else the gallery's match distance (configured, else the model's calibrated one), so tracker and gallery
    agree on who is the same person; None (embeddings decide nothing) for a model never calibrated."""
    if config.tracking.max_embedding_distance is not None:
        return config.tracking.max_embedding_distance
    return match_distance(config, encoder.meta)


def tracker_factory(config: SkelwatchConfig, camera: int = 0, cameras: int = 1, *,
                    embedding_distance: float | None = None) -> Callable[..., Tracker]:
    """Trackers with the `tracking` section's settings; call it with first_id= to continue another's ids.

    Camera `camera` of `cameras` gives out ids camera + 1, camera + 1 + cameras, ...: unique across cameras
    (see app.pipeline.seams.camera_index). `embedding_distance`: see `reacquire_distance`."""
    from capture.tracking import Tracker

    settings = {**config.tracking.model_dump(), "max_embedding_distance": embedding_distance}
    return lambda first_id=camera + 1: Tracker(**settings, first_id=first_id, id_step=cameras)


def buffer_factory(config: SkelwatchConfig, frames: int) -> Callable[[], WindowBuffer]:
    """Windows of `frames` frames (the loaded model's, which may differ from config.model.frames)."""
    from capture.buffer import WindowBuffer

    b = config.buffer
    return lambda: WindowBuffer(frames=frames, stride=b.stride, max_gap_s=b.max_gap_s, interpolate=b.interpolate,
                                max_pending=b.max_pending)


def estimator_factory(config: SkelwatchConfig) -> Callable[[], PoseEstimator]:
    """The pose estimator with the `pose` section's settings, built on the pose thread (MediaPipe's graph
    belongs to the thread that made it)."""
    settings = config.pose.model_dump()

    def make() -> PoseEstimator:
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


# --- the pipeline --------------------------------------------------------------------------------------------
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
                   encoder: LoadedEncoder | None = None, make_matcher: Callable[[], GalleryMatcher] | None = None,
                   max_seconds: float | None = None, hold_at_end: bool = False,
                   listeners: tuple[Listener, ...] = ()) -> Pipeline:
    """A ready-to-start pipeline over `source` with every stage configured from `config`.

    Args:
        speed: replay speed (multiple of real time), None = as fast as possible; ignored for live sources.
        skeleton_cache: frame index -> skeletons, used instead of pose (a recorded session's cache).
        skeletons_given: the source's frames carry every person's skeleton (see `gives_skeletons`): no pose.
        gallery: match windows against the configured database (sightings, votes, alerts are stored there,
            filed under `session_label`, default the source's name); False = no gallery, every track "unknown".
        model_dir, encoder: the encoder (default: loaded from `model_dir` or the config); its own calibrated
            match distance is used.
        make_matcher: a matcher factory of the caller's (the desktop shares its gallery); overrides `gallery`.
        max_seconds: end the stream after this much media time (record --seconds).
        hold_at_end: replay in the GUI: pause at the end instead of finishing, so a seek plays it again.
    Raises:
        CheckpointError: a named model that cannot be loaded.
        (StorageError from the encoder thread, through Listener.on_error: the database cannot be opened.)
    """
    encoder = encoder or load_encoder(config, model_dir)
    if make_matcher is None and gallery:
        make_matcher = gallery_matcher_factory(config, encoder, session_label or source.name, device=source.name)
    return Pipeline(
        source, tracker_factory(config, embedding_distance=reacquire_distance(config, encoder)),
        buffer_factory(config, encoder.frames),
        make_estimator=estimator_factory(config), make_encoder=encoder_factory(encoder, config),
        make_matcher=make_matcher, skeleton_cache=skeleton_cache, skeletons_given=skeletons_given,
        options=options_from(config, source.is_live, speed, max_seconds, hold_at_end), listeners=listeners)


def build_multi_pipeline(config: SkelwatchConfig, cameras: list[Camera], *, speed: float | None = 1.0,
                         gallery: bool = False, session_label: str | None = None, model_dir: Path | None = None,
                         encoder: LoadedEncoder | None = None,
                         make_matcher: Callable[[], GalleryMatcher] | None = None, max_seconds: float | None = None,
                         hold_at_end: bool = False, listeners: tuple[Listener, ...] = ()) -> MultiPipeline:
    """Several cameras with one encoder and one gallery: a tracker per camera (ids unique across them), and the
    hand-off between cameras (`handoff` section) when matching against the gallery.

    Args:
        cameras: the cameras, with distinct names (hand-off transit times are set per pair of names).
        gallery: match against the configured database; one session (`session_label`, default the cameras'
            sources joined) holds every camera's tracks.
        make_matcher: the caller's matcher factory over every camera (the desktop's); overrides `gallery`.
        speed, model_dir, encoder, max_seconds, hold_at_end, listeners: as for `build_pipeline` (each replayed
            camera holds at its own end).
    Raises:
        CheckpointError: a named model that cannot be loaded. ValueError: no camera, or two with one name.
    """
    encoder = encoder or load_encoder(config, model_dir)
    names = tuple(c.name for c in cameras)
    if make_matcher is None and gallery:
        label = session_label or " + ".join(f"{c.name}={c.source.name}" for c in cameras)
        make_matcher = gallery_matcher_factory(config, encoder, label, device=label, cameras=names)
    live = any(c.source.is_live for c in cameras)
    distance = reacquire_distance(config, encoder)
    return MultiPipeline(
        cameras, lambda k: tracker_factory(config, k, len(cameras), embedding_distance=distance),
        buffer_factory(config, encoder.frames),
        make_estimator=estimator_factory(config), make_encoder=encoder_factory(encoder, config),
        make_matcher=make_matcher, options=options_from(config, live, speed, max_seconds, hold_at_end),
        listeners=listeners)
