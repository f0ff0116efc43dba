"""livecat: a real-time, audio-reactive video player (audio-visual concatenative synthesis)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("livecat")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
