"""Multi-person 3D pose: person proposals, MediaPipe landmarks per crop, lifting to camera-frame metres.

`PoseEstimator` is the stage; `build_bundle` is the set-up builder of its model file (see `app.assets`).
"""
from capture.pose.bundle import PoseError, build_bundle, default_bundle_path
from capture.pose.estimator import PoseEstimator, StageTimes

__all__ = ["PoseError", "PoseEstimator", "StageTimes", "build_bundle", "default_bundle_path"]
