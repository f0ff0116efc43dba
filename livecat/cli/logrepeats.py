"""Repeated log lines collapsed into one, so a flood cannot write without bound.

``livecat live`` runs for hours and takes requests from the network. A sender repeating a
valid request that livecat refuses (a corpus that does not exist), hundreds of times a
second, would have the same warning written hundreds of times a second: to stderr, to the
log file, from the thread that shows the pictures. :class:`RepeatFilter` sits on a handler
and lets the first ``burst`` lines from one place pass within ``window_s``; the rest are
counted, and when the window ends one line says what they were::

    livecat: no corpus named 'x'; loaded: forest (osc) … repeated 812 times in 5.0 s

While the repeats go on, each further window writes only that line. "One place" is the
logger, level, call site and message template, so lines that differ only in a value a
sender chose (a corpus name) count as repeats; a printed line relayed to the log file has
no call site and is matched by its text.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 5.0  # lines from one place are counted over this long
BURST = 5  # lines from one place that pass in a window before the rest are only counted
MAX_PLACES = 1024  # places tracked at once; more (never seen in practice) pass untracked
_SUMMARY = "livecat_repeats"  # set on the summary records this module writes

Key = tuple[str, int, str, int, str]


@dataclass
class _Window:
    start: float
    allowance: int  # lines that may still pass: BURST, or 0 while repeats go on
    passed: int = 0
    suppressed: int = 0
    first_t: float = 0.0  # when the first and the latest suppressed lines came
    last_t: float = 0.0
    last: logging.LogRecord | None = None
    last_text: str = ""
    same: bool = True  # every suppressed line said the same thing


class RepeatFilter(logging.Filter):
    """Collapse repeated lines written through ``handler`` (see the module).

    Parameters
    ----------
    handler : logging.Handler
        The handler this filter is added to; summaries are written through it.
    window_s : float
        Seconds over which lines from one place are counted.
    burst : int
        Lines from one place written in a window before the others are only counted.
    clock : callable
        Seconds, monotonic (tests pass their own).

    Thread-safe: OSC, MIDI and the main thread all log.
    """

    def __init__(
        self,
        handler: logging.Handler,
        *,
        window_s: float = WINDOW_S,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.window_s = window_s
        self.burst = burst
        self.clock = clock
        self.suppressed = 0  # lines not written, in all
        self._windows: dict[Key, _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY, False):
            return True
        key = _place(record)
        now = self.clock()
        summary = None
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.start >= self.window_s:
                summary = self._summary(window)
                # Repeats that went on up to this window: it writes only its own summary.
                going_on = window.suppressed and now - window.start < 2 * self.window_s
                window = self._windows[key] = _Window(now, 0 if going_on else self.burst)
            elif window is None:
                if len(self._windows) >= MAX_PLACES:
                    self._forget_ended(now)
                    if len(self._windows) >= MAX_PLACES:
                        return True
                window = self._windows[key] = _Window(now, self.burst)
            if window.passed < window.allowance:
                window.passed += 1
                keep = True
            else:
                keep = False
                text = record.getMessage()
                if window.suppressed == 0:
                    window.first_t = now
                elif text != window.last_text:
                    window.same = False
                window.suppressed += 1
                window.last_t, window.last, window.last_text = now, record, text
                self.suppressed += 1
        if summary is not None:
            self.handler.handle(summary)
        return keep

    def flush_repeats(self, *, final: bool = False) -> None:
        """Write the summaries of windows that have ended (all of them with ``final``, at
        the end of a run); called now and then, so a flood that stops is still told."""
        now = self.clock()
        summaries = []
        with self._lock:
            for key, window in list(self._windows.items()):
                if not final and now - window.start < self.window_s:
                    continue
                summary = self._summary(window)
                if summary is None:
                    del self._windows[key]
                else:
                    summaries.append(summary)
                    # The next window follows on: while the repeats go on it writes only
                    # its summary; ended without any, it is forgotten.
                    self._windows[key] = _Window(window.start + self.window_s, 0)
        for summary in summaries:
            self.handler.handle(summary)

    def _forget_ended(self, now: float) -> None:
        for key, window in list(self._windows.items()):
            if now - window.start >= self.window_s and window.suppressed == 0:
                del self._windows[key]

    @staticmethod
    def _summary(window: _Window) -> logging.LogRecord | None:
        """The line that tells a window's suppressed lines, or None when there were none."""
        if window.last is None or window.suppressed == 0:
            return None
        span = f"{window.last_t - window.first_t:.1f} s"
        what = "repeated" if window.same else "and lines like it repeated"
        record = logging.makeLogRecord(window.last.__dict__)
        record.msg = f"{window.last_text} … {what} {window.suppressed} times in {span}"
        record.args = None
        record.exc_info = record.exc_text = record.stack_info = None
        setattr(record, _SUMMARY, True)
        return record


def _place(record: logging.LogRecord) -> Key:
    template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
    return record.name, record.levelno, record.pathname, record.lineno, template


def limit_repeats(
    logger: logging.Logger | None = None, *, window_s: float = WINDOW_S, burst: int = BURST
) -> Callable[..., None]:
    """Put a :class:`RepeatFilter` on every handler of ``logger`` (default: the root, where
    the command line's stderr and log-file handlers are). Returns a function that writes
    the summaries of ended windows, to call now and then; ``final=True``, at the end:
    all of them, and the filters are taken off again."""
    filters = []
    for handler in (logger or logging.getLogger()).handlers:
        repeat_filter = RepeatFilter(handler, window_s=window_s, burst=burst)
        handler.addFilter(repeat_filter)
        filters.append(repeat_filter)

    def flush(*, final: bool = False) -> None:
        for repeat_filter in filters:
            repeat_filter.flush_repeats(final=final)
            if final:
                repeat_filter.handler.removeFilter(repeat_filter)

    return flush
