"""``--audio-stream N``: which of a file's audio streams livecat reads (render, live, build).

Files from cameras, screen recorders and film releases often carry several audio streams
(languages, a commentary, a separate microphone). livecat reads the first unless told, and says
so when there are others, so the choice is never silent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def stream_number(text: str) -> int:
    """argparse type: an audio stream number from 0."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"a stream number from 0, got {text!r}")
    return number


def add_audio_stream_option(parser: argparse._ActionsContainer, *, of: str, use: str) -> None:
    """Add ``--audio-stream N``; ``of`` names the file (``"TARGET"``), ``use`` what is done
    with the stream (``"re-create"``)."""
    parser.add_argument(
        "--audio-stream",
        type=stream_number,
        default=None,
        metavar="N",
        help=f"which of {of}'s audio streams to {use}, counting from 0 as FFmpeg's "
        "-map 0:a:N does (default: the first; livecat names them when there are several)",
    )


def say_which_stream(
    path: str | Path, streams: tuple[str, ...], *, chosen: int | None, did: str
) -> None:
    """One line on stderr when ``path`` has several audio streams and none was chosen:
    ``streams`` are their names (``MediaInfo.audio_streams``), ``did`` what was done with #0
    (``"rendered"``)."""
    if len(streams) > 1 and chosen is None:
        print(
            f"livecat: {path} has {len(streams)} audio streams ({'; '.join(streams)}): "
            f"{did} #0; --audio-stream N picks another",
            file=sys.stderr,
        )
