"""Build the MediaPipe `PoseLandmarker` `.task` bundle from the two models the mediapipe wheel ships.

The wheel (0.10.x) carries `pose_detection.tflite` and `pose_landmark_full.tflite` for its legacy solution but no
`.task`; the Tasks API reads a zip with members `pose_detector.tflite` and `pose_landmarks_detector.tflite`, and
needs image-input metadata in the landmark model (pixels scaled to [0, 1]: mean 0, std 255). The detector
already carries its metadata. Nothing downloads: model_complexity 0 and 2 (lite, heavy) are not in the wheel and
would be fetched, so only the full model is used.
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from reid.errors import SkelwatchError

logger = logging.getLogger(__name__)

BUNDLE_NAME = "pose_landmarker_full.task"
DETECTOR_MEMBER = "pose_detector.tflite"  # the names PoseLandmarkerGraph looks up inside the bundle
LANDMARKS_MEMBER = "pose_landmarks_detector.tflite"
_LANDMARK_OUTPUTS = 5  # landmarks, presence, segmentation mask, heatmap, world landmarks


class PoseError(SkelwatchError):
    """The pose model bundle is missing or unusable, or pose was asked of a frame it cannot use."""


def default_bundle_path() -> Path:
    """Where set-up puts the bundle: `<home>/models/pose_landmarker_full.task` (home: $SKELWATCH_HOME or ./data)."""
    from core.paths import home_dir

    return home_dir() / "models" / BUNDLE_NAME


def _wheel_models() -> tuple[bytes, bytes]:
    """The detector and the full landmark model as shipped in the installed mediapipe wheel."""
    import mediapipe

    root = Path(mediapipe.__file__).parent / "modules"
    detector = root / "pose_detection" / "pose_detection.tflite"
    landmarks = root / "pose_landmark" / "pose_landmark_full.tflite"
    for path in (detector, landmarks):
        if not path.is_file():
            raise PoseError(f"the installed mediapipe has no {path}; reinstall the pinned version with "
                            "`bash scripts/setup.sh`")
    return detector.read_bytes(), landmarks.read_bytes()


def _with_image_metadata(model: bytes) -> bytes:
    """The landmark model with the image-input metadata the Tasks API reads (normalisation, output count)."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info("PoseLandmarksDetector", "MediaPipe pose landmarks (full), from the mediapipe wheel")
    writer.add_image_input(norm_mean=[0.0], norm_std=[255.0])
    for _ in range(_LANDMARK_OUTPUTS):
        writer.add_feature_output()
    content, _ = writer.populate()
    return bytes(content)


def _is_current(path: Path, detector: bytes) -> bool:
    """True if `path` is a readable bundle holding both members and the installed wheel's detector."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            return {DETECTOR_MEMBER, LANDMARKS_MEMBER} <= names and zf.read(DETECTOR_MEMBER) == detector
    except (OSError, zipfile.BadZipFile):
        return False


def build_bundle(path: str | Path | None = None) -> str:
    """Make the `.task` bundle at `path` (default `default_bundle_path()`) unless a current one is there.

    Written to a temporary name and renamed, so an interrupted build never leaves a half bundle.

    Returns:
        A one-line status for the set-up log.
    """
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    out = Path(path) if path is not None else default_bundle_path()
    detector, landmarks = _wheel_models()
    if _is_current(out, detector):
        return f"pose bundle up to date ({out})"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    model_asset_bundle_utils.create_model_asset_bundle(
        {DETECTOR_MEMBER: detector, LANDMARKS_MEMBER: _with_image_metadata(landmarks)}, str(tmp))
    tmp.replace(out)
    logger.info("built the pose bundle %s", out)
    return f"pose bundle built ({out})"


def check_bundle(path: Path) -> Path:
    """Raise a PoseError telling how to make the bundle when `path` is not one."""
    if not path.is_file():
        raise PoseError(f"pose model bundle {path} is missing; build it with `bash scripts/setup.sh`")
    try:
        with zipfile.ZipFile(path) as zf:
            missing = {DETECTOR_MEMBER, LANDMARKS_MEMBER} - set(zf.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise PoseError(f"pose model bundle {path} is unreadable ({exc}); delete it and run "
                        "`bash scripts/setup.sh` to rebuild it") from None
    if missing:
        raise PoseError(f"pose model bundle {path} lacks {sorted(missing)}; delete it and run "
                        "`bash scripts/setup.sh` to rebuild it")
    return path
