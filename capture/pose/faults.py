"""Bad input met while estimating (a region off the image, a tiny proposal, a frame of another size, a failing
worker): each kind is logged the first time, then only counted, so a bad stream cannot flood the log."""
from __future__ import annotations

import logging

logger = logging.getLogger("capture.pose")


class FaultLog:
    """Counts of handled faults by kind; the first of each kind is logged as a warning."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def note(self, kind: str, message: str) -> None:
        """Count one fault of `kind`; log `message` if it is the first of its kind."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] == 1:
            logger.warning("pose: %s (handled; further ones are counted as %r, not logged)", message, kind)
