"""What the command line tells the user on stderr, by how much they asked to hear.

Three kinds of output: **progress** (a bar, on a terminal only), **summaries** (the line a
command ends with: what it made, how fast) and **warnings** (something the user must know:
an input skipped, a device missing). ``-q`` keeps only warnings and errors; errors are
``main``'s business.
"""

from __future__ import annotations

import sys

#: Set once per command by :func:`livecat.cli.main.main` from ``-q``.
quiet = False


def progress_bar_wanted() -> bool:
    """A progress bar is drawn on a terminal, unless ``-q`` asked for silence."""
    return sys.stderr.isatty() and not quiet


def summary(line: str) -> None:
    """A line that says what a command did: dropped by ``-q``."""
    if not quiet:
        print(line, file=sys.stderr, flush=True)
