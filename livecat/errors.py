"""livecat's exception types.

Every error a user can cause is a :class:`LivecatError` that also inherits the matching
builtin, so callers may catch either ``CorpusError`` or ``ValueError``. Messages name the
file they are about, so the CLI can print them as one line with no traceback.
"""

from __future__ import annotations

import os


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
