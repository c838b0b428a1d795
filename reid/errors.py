"""Errors of the method's package: skeletons, datasets and checkpoints (see core.errors for the base)."""
from core.errors import SkelwatchError


class SkeletonError(SkelwatchError):
    """A skeleton array or file does not fit the expected layout or holds unusable values."""


class DatasetError(SkelwatchError):
    """A dataset folder or file cannot be read as the requested format."""


class CheckpointError(SkelwatchError):
    """A checkpoint is missing, corrupt, or made for another joint layout or version."""
