"""``--log-file`` (and ``--kiosk``'s default log): a rotating log of what livecat says.

Everything livecat reports goes to stderr as one-line messages — through ``logging`` or
printed — and an installation has nobody reading stderr. :func:`log_to_file` keeps stderr as
it is and also writes every line to a :class:`~logging.handlers.RotatingFileHandler`
(5 files of 1 MiB) with a timestamp: log records directly, printed lines through a thin
wrapper around ``sys.stderr`` (so the existing messages need not change, and tracebacks of
crashes land in the file too). The file survives restarts: it is appended to, also after
livecat re-executes itself when the audio device comes back.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from livecat.errors import ParameterError

MAX_BYTES = 1 << 20
BACKUPS = 4  # livecat.log + .1 ... .4: five files, at most 5 MiB
FORMAT = "%(asctime)s %(levelname)s %(message)s"


def default_log_path() -> Path:
    """``$XDG_STATE_HOME/livecat/livecat.log`` (``~/.local/state/livecat/livecat.log``)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(state) / "livecat" / "livecat.log"


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """The log file. A write that fails (a full disk, a yanked USB stick) is said once on
    the real stderr, in one line, not as logging's traceback for every line after it: an
    installation with a full disk would flood its journal. Writing is tried again with each
    line, so the log resumes by itself once there is room, and says so."""

    failing = False  # the last line could not be written
    _failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)  # calls handleError instead of raising
        if self.failing and not self._failed_now:
            self.failing = False
            _say(f"livecat: the log file {self.baseFilename} is written again")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if self.failing:
            return
        self.failing = True
        exc = sys.exc_info()[1]
        reason = getattr(exc, "strerror", None) or str(exc)
        _say(
            f"livecat: cannot write the log file {self.baseFilename} ({reason}): "
            "lines are not kept there until it can be written again; the show goes on"
        )


def _say(line: str) -> None:
    """One line on the real stderr only (the log file is the one failing)."""
    stream = sys.stderr.stream if isinstance(sys.stderr, StderrToLog) else sys.stderr
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class StderrToLog:
    """Stands in for ``sys.stderr``: writes through to it, and logs each complete line to
    ``handler`` (the stderr handler is not involved, so nothing is said twice)."""

    def __init__(self, stream: TextIO, handler: logging.Handler) -> None:
        self.stream = stream
        self.handler = handler
        self._partial = ""
        self._busy = False  # the handler's own error report is written to stderr: no loop
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                if line.strip():
                    self._emit(line)
        return written

    def _emit(self, line: str) -> None:
        # Straight to the file handler (which reports its own write errors, never raising):
        # whatever the log level, every line that reached stderr is kept.
        if self._busy:
            return
        self._busy = True
        try:
            record = logging.LogRecord("livecat", logging.INFO, "", 0, line, None, None)
            self.handler.handle(record)
        finally:
            self._busy = False

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self.stream, name)


def log_to_file(path: str | os.PathLike[str] | None, *, required: bool = True) -> Path | None:
    """Also write everything said on stderr to ``path`` (rotating, with timestamps), and a
    start line (to the file only). ``path`` None: :func:`default_log_path`.

    Returns the log's path, or None when it could not be opened and ``required`` is False
    (then one warning is printed and the show goes on without a log file).

    Raises
    ------
    ParameterError
        When it cannot be opened and ``required`` (``--log-file`` given explicitly).
    """
    target = Path(path).expanduser() if path is not None else default_log_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = LogFileHandler(target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if required:
            raise ParameterError(f"--log-file {target}: cannot write it: {reason}") from None
        logging.getLogger("livecat").warning(
            "livecat: cannot write the log file %s: %s; going on without it", target, reason
        )
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    handler.setLevel(root.getEffectiveLevel())
    root.addHandler(handler)
    if isinstance(sys.stderr, StderrToLog):  # a second call: send lines to the new file
        sys.stderr.handler = handler
    else:
        sys.stderr = StderrToLog(sys.stderr, handler)  # type: ignore[assignment]
    from livecat import __version__

    start = f"livecat {__version__} started (pid {os.getpid()}): livecat {' '.join(sys.argv[1:])}"
    handler.handle(logging.LogRecord("livecat", logging.INFO, "", 0, start, None, None))
    return target
