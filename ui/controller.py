"""Owns the running pipeline for the window: opens sources off the GUI thread, forwards playback and recording.

Everything that may block (opening a camera or a recording, loading the model, stopping the workers, closing a
recording) runs on the controller's own task thread; the GUI only sees signals. The pipeline's events arrive
through a `PipelineBridge`. Several specs, or one multi-camera session folder, open several cameras in one
MultiPipeline (one encoder and gallery); a camera that cannot be opened is named and left out, the others run.
Recording several cameras writes one multi-camera session (a session per camera on one clock).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import QObject, Signal

from app.compose import build_multi_pipeline, build_pipeline
from app.config import SkelwatchConfig, home_dir
from app.desktop import Backend
from app.pipeline.headless import camera_specs, open_cameras, open_input
from app.pipeline.multi import Camera, MultiPipeline
from app.pipeline.runner import Pipeline
from app.session import SessionRecorder, is_session
from app.session_cameras import MultiSessionRecorder, is_multi_session
from app.session_replay import open_camera_sessions, open_session
from ui.bridge import PipelineBridge
from ui.tasks import TaskRunner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSource:
    """What the GUI needs to know about the source (or cameras) that just opened."""

    spec: str
    name: str
    is_live: bool                    # several cameras: any of them is live
    duration_s: float | None         # several cameras: the longest, when every one's is known
    has_images: bool
    session: Path | None = None
    cameras: tuple[str, ...] = ()    # several cameras: the names of those that opened (one source: none)
    left_out: tuple[str, ...] = ()   # several cameras: why each one that could not be opened was left out


class OpenFailed(Exception):
    """Opening `spec` failed with `error`: the window says what that means for this kind of source."""

    def __init__(self, spec: str, error: BaseException) -> None:
        super().__init__(f"opening {spec}: {error}")
        self.spec, self.error = spec, error


def open_spec(spec: str) -> tuple[Any, bool, dict | None, Path | None]:
    """(source, frames carry skeletons, skeleton cache, session folder) of a source spec, a file, a recorded
    session folder or "demo"."""
    path = Path(spec)
    if is_session(path):
        opened = open_session(path, images=True)
        return opened.source, False, opened.cache, path
    source, given = open_input(spec)
    return source, given, None, None


def sessions_dir(config: SkelwatchConfig) -> Path:
    return Path(config.ui.sessions_dir) if config.ui.sessions_dir else home_dir() / "sessions"


def new_session_folder(config: SkelwatchConfig, now: datetime | None = None) -> Path:
    """A fresh, not yet existing folder under the sessions directory, named by UTC time."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    base = sessions_dir(config) / stamp
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{stamp}-{n}")
    return folder


class PipelineController(QObject):
    """Start, stop and steer one pipeline (of one source or several cameras) at a time.

    Args:
        config: the effective config.
        bridge: receives the pipeline's events.
        on_error: the window's error reporter (`what`, exception).
        backend: the window's model and gallery (set once open); None builds pipelines without a gallery.
    """

    opened = Signal(object)           # OpenedSource
    closed = Signal()
    recording_changed = Signal(object)  # Path of the session being recorded, or None

    def __init__(self, config: SkelwatchConfig, bridge: PipelineBridge,
                 on_error: Callable[[str, BaseException], None], backend: Backend | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.bridge = bridge
        self.tasks = TaskRunner(on_error, self)
        self.backend = backend
        self.pipeline: Pipeline | MultiPipeline | None = None
        self.current: OpenedSource | None = None
        self.recording: Path | None = None
        self._camera_specs: dict[str, str] = {}  # several cameras: name -> the spec it was opened from
        self._site_recorder: MultiSessionRecorder | None = None  # several cameras being recorded
        self.speed = config.ui.replay_speed

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def open(self, specs: Sequence[str], *, paused: bool = False, start_s: float | None = None) -> None:
        """Stop what runs and open `specs`: one source (a source spec, a file, a session folder, or "demo"), or
        several cameras as `[NAME=]SPEC` each (unnamed: cam1, cam2, ...).

        Args:
            paused: show the first frame, then wait for play.
            start_s: start at this media time (one recording).
        """
        label = " + ".join(specs)
        self.tasks.submit(self._stop_now, None, "stopping the previous source")
        self.tasks.submit(lambda: self._open_or_explain(tuple(specs), paused, start_s), self._on_opened,
                          f"opening {label}")

    def close(self) -> None:
        self.tasks.submit(self._stop_now, lambda _: self.closed.emit(), "stopping the pipeline")

    def shutdown(self) -> None:
        """Stop the pipeline and the task thread (window close)."""
        self.tasks.submit(self._stop_now, None, "stopping the pipeline")
        self.tasks.shutdown()

    def _open_or_explain(self, specs: tuple[str, ...], paused: bool, start_s: float | None) -> OpenedSource:
        try:
            if len(specs) > 1:
                return self._open_cameras_now(specs, paused)
            if is_multi_session(Path(specs[0])):
                return self._open_camera_session_now(Path(specs[0]), paused)
            return self._open_now(specs[0], paused, start_s)
        except Exception as exc:
            raise OpenFailed(" + ".join(specs), exc) from exc

    def _open_now(self, spec: str, paused: bool, start_s: float | None = None) -> OpenedSource:
        source, given, cache, session = open_spec(spec)
        speed = None if source.is_live else self.speed
        try:
            if self.backend is not None:
                pipeline = self.backend.build_pipeline(source, speed=speed, skeleton_cache=cache,
                                                       skeletons_given=given, label=spec,
                                                       listeners=(self.bridge.listener,))
            else:  # no gallery (it could not be opened): tracks are shown, unnamed
                pipeline = build_pipeline(self.config, source, speed=speed, skeleton_cache=cache,
                                          skeletons_given=given, hold_at_end=not source.is_live,
                                          listeners=(self.bridge.listener,))
        except BaseException:
            source.close()
            raise
        if start_s is not None and not source.is_live:
            pipeline.seek(start_s)
        self._start(pipeline, paused)
        self.current = OpenedSource(spec, source.name, source.is_live, source.duration_s,
                                    source.intrinsics is not None, session)
        return self.current

    def _open_cameras_now(self, specs: tuple[str, ...], paused: bool) -> OpenedSource:
        """Several cameras in one pipeline; those that cannot be opened are left out (OpenedSource.left_out)."""
        cameras, left_out = open_cameras(list(specs), lambda spec: open_spec(spec)[:3])
        return self._start_cameras(cameras, left_out, " + ".join(specs), dict(camera_specs(list(specs))), paused)

    def _open_camera_session_now(self, folder: Path, paused: bool) -> OpenedSource:
        """A multi-camera session folder: every camera from its skeleton cache, in step on the session's clock."""
        cameras, left_out = open_camera_sessions(folder)
        return self._start_cameras(cameras, left_out, str(folder), {c.name: str(folder / c.name) for c in cameras},
                                   paused, session=folder)

    def _start_cameras(self, cameras: list[Camera], left_out: list[str], label: str, specs: dict[str, str],
                       paused: bool, session: Path | None = None) -> OpenedSource:
        live = any(c.source.is_live for c in cameras)
        try:
            pipeline = self._build_cameras(cameras, live, label)
        except BaseException:
            for camera in cameras:
                camera.source.close()
            raise
        self._start(pipeline, paused)
        self._camera_specs = specs
        durations = [c.source.duration_s for c in cameras]
        self.current = OpenedSource(label, " + ".join(c.name for c in cameras), live,
                                    None if None in durations else max(durations),
                                    any(c.source.intrinsics is not None for c in cameras), session,
                                    cameras=tuple(c.name for c in cameras), left_out=tuple(left_out))
        return self.current

    def _build_cameras(self, cameras: list[Camera], live: bool, label: str) -> MultiPipeline:
        speed = None if live else self.speed
        if self.backend is not None:
            return self.backend.build_multi_pipeline(cameras, speed=speed, label=label,
                                                     listeners=(self.bridge.listener,))
        return build_multi_pipeline(self.config, cameras, speed=speed, hold_at_end=not live,
                                    listeners=(self.bridge.listener,))

    def _start(self, pipeline: Pipeline | MultiPipeline, paused: bool) -> None:
        if paused:
            pipeline.pause()
            pipeline.step(1)
        pipeline.start()
        # Set here, on the task thread, so the next queued task (a stop) sees it whatever the GUI is doing.
        self.pipeline = pipeline

    def _on_opened(self, info: OpenedSource) -> None:
        self.opened.emit(info)

    def _stop_now(self) -> None:
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is None:
            return
        if self.recording is not None:
            self._finish_recording(pipeline)
            self.recording_changed.emit(None)
        stopped = pipeline.stop()
        summaries = list(stopped.values()) if isinstance(stopped, dict) else [stopped]
        logger.info("pipeline stopped: %d frames, %d windows encoded", sum(s.frames for s in summaries),
                    sum(s.windows_encoded for s in summaries))

    # --- playback (thread-safe calls into the pipeline's control; they return at once) ---------------------------
    @property
    def replayed(self) -> bool:
        """Every source is a recording (one, or several cameras in step on their shared clock): speed, step and
        seek apply."""
        return self.current is not None and not self.current.is_live

    @property
    def failed_cameras(self) -> dict[str, str]:
        """Several cameras: camera name -> why it stopped (its source failed mid-run)."""
        return self.pipeline.failed_cameras if isinstance(self.pipeline, MultiPipeline) else {}

    def pause(self) -> None:
        if self.pipeline is not None:
            self.pipeline.pause()

    def resume(self) -> None:
        if self.pipeline is not None:
            self.pipeline.resume()

    @property
    def finished(self) -> bool:
        """The stream reached its end (or failed): playback calls no longer do anything."""
        return self.pipeline is not None and self.pipeline.finished

    @property
    def at_end(self) -> bool:
        """A replay reached its end and holds there, paused (a seek plays it again)."""
        return self.pipeline is not None and self.pipeline.at_end

    @property
    def paused(self) -> bool:
        return self.pipeline is not None and self.pipeline.paused

    def step(self, frames: int = 1) -> None:
        if self.pipeline is not None:
            self.pipeline.step(frames)

    def seek(self, t_s: float) -> None:
        if self.pipeline is not None and self.replayed:
            self.pipeline.seek(max(0.0, t_s))

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        if self.pipeline is not None and self.replayed:
            self.pipeline.set_speed(speed)

    # --- recording -------------------------------------------------------------------------------------------
    def start_recording(self, folder: Path | None = None) -> None:
        """Record the current source into a new session folder (under the sessions directory by default)."""
        pipeline, current = self.pipeline, self.current
        if pipeline is None or current is None:
            return
        target = folder or new_session_folder(self.config)
        options = dict(flush_interval_s=self.config.pipeline.flush_interval_s,
                       keep_color=not self.config.storage.privacy_skeleton_only)

        def start() -> Path:
            if isinstance(pipeline, MultiPipeline):  # one session per camera, on one clock
                site = MultiSessionRecorder.create(
                    target, [(c.name, c.source, self._camera_specs[c.name]) for c in pipeline.cameras], **options)
                pipeline.start_recording(site.recorders)
                self._site_recorder = site
            else:
                pipeline.start_recording(SessionRecorder.create(target, pipeline.source, current.spec, **options))
            return target

        self.tasks.submit(start, self._set_recording, "starting the recording")

    def stop_recording(self) -> None:
        pipeline = self.pipeline
        if pipeline is None or self.recording is None:
            return
        self.tasks.submit(lambda: self._finish_recording(pipeline), lambda _: self._set_recording(None),
                          "finishing the recording")

    def _finish_recording(self, pipeline: Pipeline | MultiPipeline) -> None:
        """Close the recording (on the task thread): every camera's session, then the multi-camera record."""
        pipeline.stop_recording()
        site, self._site_recorder = self._site_recorder, None
        if site is not None:
            site.close()
        self.recording = None

    def _set_recording(self, folder: Path | None) -> None:
        self.recording = folder
        self.recording_changed.emit(folder)
