"""MediaPipe's pose landmark model alone (pose_landmark_full.tflite from the mediapipe wheel), through LiteRT.

Why not the Tasks `PoseLandmarker` for every crop: in IMAGE mode it runs its person detector before the landmark
model on every call, about half of each crop's cost, while a tracked person's region is already known from
their last landmarks (MediaPipe's own video mode tracks the same way). LiteRT's interpreter (XNNPACK on the CPU)
releases the GIL while it runs, so a few threads, one interpreter each, use both cores (see
`capture.pose.pool`); tflite-runtime 2.14 did not overlap in threads.

The model's tensors, as `tensors_to_pose_landmarks_and_segmentation.pbtxt` reads them:
input (1, 256, 256, 3) float RGB in [0, 1]; outputs (1, 195) = 39 x (x, y, z, visibility, presence) in crop
pixels with visibility and presence as logits (33 landmarks + 2 alignment points + 4 unused), (1, 1) pose presence
(a probability), (1, 256, 256, 1) segmentation (unused), (1, 64, 64, 39) heatmap logits that refine x, y, and
(1, 117) = 39 x 3 world landmarks in metres (hip-centred, crop axes).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from capture.pose.bundle import PoseError, wheel_model_path
from capture.pose.landmarker import FILL, Landmarks
from capture.pose.proposals import Box
from capture.pose.roi import Roi, roi_from_alignment

INPUT_PX = 256
NUM_LANDMARKS = 33
NUM_OUTPUT_POINTS = 39
HEATMAP_KERNEL = 7  # RefineLandmarksFromHeatmapCalculator options in the pose graph
HEATMAP_MIN_CONFIDENCE = 0.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: each point moves to the confidence-weighted mean of the
    7x7 heatmap cells around it, if the most confident of them reaches 0.5; points outside the map stay.

    Args:
        xy: (39, 2) normalised crop coordinates.
        heatmap: (64, 64, 39) logits.
    Returns:
        (39, 2) normalised crop coordinates.
    """
    hm_h, hm_w, channels = heatmap.shape
    col = np.floor(xy[:, 0] * hm_w).astype(np.int64)  # C++ truncates; negatives are "outside" either way
    row = np.floor(xy[:, 1] * hm_h).astype(np.int64)
    inside = (col >= 0) & (col < hm_w) & (row >= 0) & (row < hm_h)
    half = (HEATMAP_KERNEL - 1) // 2
    offsets = np.arange(-half, half + 1)
    rows = row[:, None, None] + offsets[None, :, None]  # (39, 7, 1)
    cols = col[:, None, None] + offsets[None, None, :]  # (39, 1, 7)
    valid = (rows >= 0) & (rows < hm_h) & (cols >= 0) & (cols < hm_w)  # (39, 7, 7): zero border
    conf = _sigmoid(heatmap[np.clip(rows, 0, hm_h - 1), np.clip(cols, 0, hm_w - 1),
                            np.arange(channels)[:, None, None]]) * valid  # (39, 7, 7)
    total = conf.sum(axis=(1, 2))
    refine = inside & (conf.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    out = xy.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 0] = np.where(refine, (conf * cols).sum(axis=(1, 2)) / hm_w / total, xy[:, 0])
        out[:, 1] = np.where(refine, (conf * rows).sum(axis=(1, 2)) / hm_h / total, xy[:, 1])
    return out


def decode(raw: np.ndarray, presence: float, heatmap: np.ndarray, world: np.ndarray,
           roi: Roi) -> tuple[Landmarks, float]:
    """The model's outputs for one crop of `roi` -> (landmarks in the image with the next frame's region from
    the model's two alignment points, pose presence probability).

    Args:
        raw: (195,) landmark tensor. presence: pose presence probability. heatmap: (64, 64, 39) logits.
        world: (117,) world landmark tensor, rotated here from crop axes to image axes.
    """
    points = raw.reshape(NUM_OUTPUT_POINTS, 5).astype(np.float64)  # (39, 5) x, y, z (crop px), vis, presence logits
    xy = refine_from_heatmap(points[:, :2] / INPUT_PX, heatmap)
    image_xy = roi.to_image(xy)  # (39, 2)
    wxyz = world.reshape(NUM_OUTPUT_POINTS, 3)[:NUM_LANDMARKS].astype(np.float64)
    wxyz[:, :2] = roi.rotate(wxyz[:, :2])
    person = Landmarks(keypoints=image_xy[:NUM_LANDMARKS], visibility=_sigmoid(points[:NUM_LANDMARKS, 3]),
                       world=wxyz, next_roi=roi_from_alignment(image_xy[NUM_LANDMARKS], image_xy[NUM_LANDMARKS + 1]))
    return person, float(presence)


class LandmarkModel:
    """One LiteRT interpreter of the landmark model; not thread-safe, so one per worker thread.

    Args:
        model_path: the .tflite file; default the mediapipe wheel's pose_landmark_full.tflite.
        threads: interpreter threads (1: parallelism comes from running people side by side).
    Raises:
        PoseError: LiteRT is not installed, or the model file is missing or not this model.
    """

    def __init__(self, model_path: str | Path | None = None, threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise PoseError("the LiteRT interpreter is not installed; run `bash scripts/setup.sh` (it installs "
                            "the pinned ai-edge-litert from requirements.txt)") from None
        path = Path(model_path) if model_path is not None else wheel_model_path("pose_landmark")
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise PoseError(f"pose landmark model {path} could not be loaded ({exc}); reinstall the pinned "
                            "mediapipe with `bash scripts/setup.sh`") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or tuple(inputs[0]["shape"]) != (1, INPUT_PX, INPUT_PX, 3) or len(outputs) != 5:
            raise PoseError(f"{path} is not MediaPipe's pose landmark model (input {inputs[0]['shape']}, "
                            f"{len(outputs)} outputs; expected (1, 256, 256, 3) and 5)")
        self._input = inputs[0]["index"]
        by_size = {int(np.prod(o["shape"])): o["index"] for o in outputs}
        self._landmarks, self._presence = by_size[NUM_OUTPUT_POINTS * 5], by_size[1]
        self._heatmap, self._world = by_size[64 * 64 * NUM_OUTPUT_POINTS], by_size[NUM_OUTPUT_POINTS * 3]

    def infer(self, rgb_crop: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Raw outputs for one (256, 256, 3) uint8 RGB crop: landmarks (195,), presence, heatmap, world (117,)."""
        # Scaled straight into the interpreter's input buffer: a float copy plus set_tensor cost 15 times more.
        # The view must not outlive this statement (the interpreter may move its buffers).
        np.multiply(rgb_crop, np.float32(1.0 / 255.0), out=self._interpreter.tensor(self._input)()[0],
                    casting="unsafe")
        self._interpreter.invoke()
        get = self._interpreter.get_tensor
        return (get(self._landmarks)[0], float(get(self._presence).ravel()[0]),
                get(self._heatmap)[0], get(self._world)[0])

    def __call__(self, image_bgr: np.ndarray, roi: Roi, keep: Box | None = None) -> tuple[Landmarks, float]:
        """(landmarks, presence) of the person in `roi` of a (H, W, 3) uint8 BGR image; outside the image box
        `keep` (if given) the crop is grey."""
        crop = roi.crop(image_bgr, INPUT_PX) if keep is None else roi.masked_crop(image_bgr, INPUT_PX, keep, FILL)
        # BGR -> RGB on the small crop, not the frame; a contiguous copy: scaling a reversed-channel view into
        # the input costs 0.8 ms a pass, the copy and a contiguous scaling 0.07 ms
        return decode(*self.infer(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)), roi)
