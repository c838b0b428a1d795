"""How the command line reports: one line per message on the console, the details in a private log file.

Every error ends as one line on stderr and exit code 2: a `SkelwatchError` with its own message, an `OSError`
with the path and the system's reason, anything else (a bug, or an input no check foresaw) as its type and
message plus the log file that holds the traceback. Tracebacks never reach the console, also not from a
`logger.exception` in a worker thread or an uncaught exception in a thread: they go to the log file
(`<home>/logs/skelwatch.log`, 0600, created on the first warning only).
"""
from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path

from core.errors import SkelwatchError
from storage.files import make_private_dir

logger = logging.getLogger("app.cli")

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FILE_ONLY = "skelwatch_file_only"  # a record attribute: the console handler leaves such records out


class OneLineFormatter(logging.Formatter):
    """The console's format: the message only, never a traceback (it points at the log file instead)."""

    def __init__(self, log_path: Path) -> None:
        super().__init__(FORMAT)
        self.log_path = log_path

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            text = super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        return text + (f" (traceback in {self.log_path})" if saved[0] else "")


class _QuietFileHandler(logging.FileHandler):
    """A log file that never prints its own failure (a read-only home must not add a traceback)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


def log_path(home: Path) -> Path:
    """The log file under `home`, or one in the temporary folder when `home` cannot hold it."""
    try:
        return make_private_dir(home / "logs") / "skelwatch.log"
    except OSError:
        return Path(tempfile.gettempdir()) / "skelwatch.log"


def setup_logging(level: str, home: Path) -> Path:
    """Console (one line per record) and log file (warnings and worse, with tracebacks); returns the file.

    Idempotent: handlers of an earlier call are replaced. Under a host that already set up logging (pytest),
    only the file handler is added.
    """
    path = log_path(home)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _FILE_ONLY, None) is not None]:
        root.removeHandler(handler)
        handler.close()
    if not root.handlers:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(OneLineFormatter(path))
        console.addFilter(lambda record: not getattr(record, _FILE_ONLY, False))
        setattr(console, _FILE_ONLY, False)
        root.addHandler(console)
    file_handler = _QuietFileHandler(path, encoding="utf-8", delay=True)
    file_handler.setLevel(logging.WARNING)
    file_handler.setFormatter(logging.Formatter(FORMAT))
    setattr(file_handler, _FILE_ONLY, True)
    root.addHandler(file_handler)
    root.setLevel(level)
    threading.excepthook = _thread_exception
    return path


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    logger.error("%s stopped: %s: %s", name, args.exc_type.__name__, _one_line(args.exc_value),
                 exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]


def _one_line(exc: BaseException | None, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException, path: Path) -> str:
    """The one line the user sees for an error that ended a command."""
    if isinstance(exc, SkelwatchError):
        return f"error: {_one_line(exc, 2000)}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"error: {_one_line(Exception(where + exc.strerror), 600)}; check the path and its permissions"
    if isinstance(exc, MemoryError):
        return "error: out of memory; give skelwatch a smaller input or more memory"
    logger.error("unexpected %s", type(exc).__name__, exc_info=exc, extra={_FILE_ONLY: True})
    return (f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (an input skelwatch does not check yet, or "
            f"a bug; the details are in {path})")


def report(exc: BaseException, path: Path) -> int:
    """Print the error's one line on stderr; returns the exit code (2)."""
    print(describe(exc, path), file=sys.stderr)
    return 2
