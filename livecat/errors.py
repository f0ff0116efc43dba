"""livecat's exception types.

Every error a user can cause is a :class:`LivecatError` that also inherits the matching
builtin, so callers may catch either ``CorpusError`` or ``ValueError``. Messages name the
file they are about, so the CLI can print them as one line with no traceback.
"""

from __future__ import annotations

import errno
import os
import re
import shutil


class LivecatError(Exception):
    """Base of every error livecat raises on purpose."""

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class MediaError(LivecatError, ValueError):
    """A media file cannot be decoded, has no usable stream, or cannot be written."""


class CorpusError(LivecatError, ValueError):
    """A corpus is missing, incomplete, of another format version or inconsistent."""


class ParameterError(LivecatError, ValueError):
    """A DSP or command-line parameter is out of range or inconsistent."""


class ConfigError(LivecatError, ValueError):
    """A configuration file has an unknown key or a bad value."""


class DeviceError(LivecatError, OSError):
    """An audio device cannot be found or opened."""


class OutputError(LivecatError, OSError):
    """A video output (a virtual camera, a future NDI/Syphon/Spout sender) cannot be opened."""


def bytes_text(n: float) -> str:
    """A byte count as people read it: ``512 B``, ``3.2 MiB``."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Room left on the disk that holds ``path`` (a file to be written, or its folder)."""
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    except OSError:
        return None


def write_failure(exc: OSError, *, free_at_start: int | None = None) -> str:
    """Why a write failed, in a few words for a one-line error: the system's own, and on a
    full disk (or quota) how much room there was when the work began (measured when it
    failed, it would count what the failed work has left or already removed)."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and free_at_start is not None:
        reason += f"; {bytes_text(free_at_start)} were free when it began"
    return reason


def write_error(
    exc: Exception, *, path: str | os.PathLike[str], free_at_start: int | None = None
) -> MediaError:
    """The one-line error of a file livecat writes for the user (a mosaic, a match log) that
    could not be written: ``cannot write (…)`` with :func:`write_failure`'s reason."""
    reason = (
        write_failure(exc, free_at_start=free_at_start) if isinstance(exc, OSError) else str(exc)
    )
    return MediaError(f"cannot write ({reason})", path=path)


# C0 controls, DEL and C1 controls: a terminal acts on them (ESC starts a control sequence).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN``: names read from a corpus or a
    file (a stranger's corpus may name a source ``"\\x1b]0;…"``) cannot move the cursor,
    retitle the terminal or hide what follows."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
