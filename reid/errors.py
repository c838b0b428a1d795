"""The one exception type whose message is shown to the user as is, without a traceback.

Every package raises a subclass of `SkelwatchError` for bad input (a wrong joint count, a corrupt file, a
missing device, a locked database). Its message names the thing, the problem and the fix; `main.py` prints it
and exits non-zero. Programming errors stay ordinary exceptions, so they keep their traceback.
"""


class SkelwatchError(Exception):
    """Bad input or a missing resource, explained for the user."""


class SkeletonError(SkelwatchError):
    """A skeleton array or file does not fit the expected layout or holds unusable values."""


class DatasetError(SkelwatchError):
    """A dataset folder or file cannot be read as the requested format."""


class CheckpointError(SkelwatchError):
    """A checkpoint is missing, corrupt, or made for another joint layout or version."""
