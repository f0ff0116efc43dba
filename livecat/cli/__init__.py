"""The ``livecat`` command line: wires the other modules together."""

from livecat.cli.main import main

__all__ = ["main"]
