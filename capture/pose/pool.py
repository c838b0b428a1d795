"""Several people's landmark passes at once, on a few threads, each thread with its own interpreter.

Threads, not processes: LiteRT releases the GIL inside `invoke` (measured at load 3.5 on the 2 cores: 14.7 ms
wall a pass on two threads against 18.9 on one; tflite-runtime 2.14 did not overlap: 19.5 against 16.8), so
threads already use both cores without copying frames to other processes or loading the model in each. A pass that raises (a broken
interpreter, an exhausted thread) is logged once, counted, and its person skipped; the pool is rebuilt if it
was shut down under it, and the frame goes on.
"""
from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from capture.pose.faults import FaultLog
from capture.pose.landmark_model import LandmarkModel
from capture.pose.landmarker import Landmarks
from capture.pose.proposals import Box
from capture.pose.roi import Roi

Model = Callable[[np.ndarray, Roi, Box | None], tuple[Landmarks, float]]  # LandmarkModel's call
Result = tuple[Landmarks, float] | None  # (landmarks, presence), or None when the pass failed


class LandmarkPool:
    """Runs the landmark model on a list of regions of one image, `threads` at a time.

    Args:
        threads: passes at once: the caller's thread plus threads - 1 workers (1: all on the caller's thread).
        faults: where failed passes are counted.
        make_model: builds one model per thread (default: the wheel's model through LiteRT, one thread each).
    """

    def __init__(self, threads: int, faults: FaultLog,
                 make_model: Callable[[], Model] | None = None,
                 model_path: str | Path | None = None):
        if threads < 1:
            raise ValueError(f"threads={threads} must be at least 1")
        self.threads = threads
        self.faults = faults
        self._make_model = make_model or (lambda: LandmarkModel(model_path))
        self._local = threading.local()
        self._executor: ThreadPoolExecutor | None = None
        self.worker_cpu_s = 0.0  # thread CPU of the passes run on worker threads (the caller's is its own)
        self._cpu_lock = threading.Lock()

    def _model(self) -> Model:
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = self._make_model()
        return model

    def _one(self, image: np.ndarray, roi: Roi, keep: Box | None, on_worker: bool = False) -> Result:
        start = time.thread_time()
        try:
            return self._model()(image, roi, keep)
        except Exception as exc:  # noqa: BLE001 - any failure of one pass must not stop the frame
            self.faults.note("worker", f"a landmark pass failed ({type(exc).__name__}: {exc}); that person is "
                                       "skipped in this frame")
            self._local.model = None  # a fresh interpreter next time
            return None
        finally:
            if on_worker:
                spent = time.thread_time() - start
                with self._cpu_lock:
                    self.worker_cpu_s += spent

    def run(self, image: np.ndarray, regions: list[tuple[Roi, Box | None]]) -> list[Result]:
        """One result per (region, box outside which the crop is grey or None), in order.

        The caller and the workers take the next region from one shared counter until none is left, so the
        passes spread evenly (with one worker and three people: two passes' time, not three)."""
        if self.threads == 1 or len(regions) <= 1:
            return [self._one(image, *region) for region in regions]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="pose-landmarks")
        results: list[Result] = [None] * len(regions)
        taken = itertools.count()  # next() on a count is atomic under the GIL

        def work(on_worker: bool) -> None:
            while (k := next(taken)) < len(regions):
                results[k] = self._one(image, *regions[k], on_worker)

        try:
            helpers = [self._executor.submit(work, True) for _ in range(min(self.threads, len(regions)) - 1)]
        except RuntimeError as exc:  # shut down under us: rebuild once and run on the caller meanwhile
            self.faults.note("pool", f"the landmark worker pool was unusable ({exc}); rebuilt")
            self._executor, helpers = None, []
        work(False)  # the caller works too instead of waiting
        for helper in helpers:
            helper.result()
        return results

    def close(self) -> None:
        """Stop the worker threads; closing twice is harmless."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
