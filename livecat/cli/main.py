"""``livecat`` entry point: argument parsing, logging, and one-line errors.

User errors (every :class:`~livecat.errors.LivecatError`) print one line, ``livecat: ...``,
and exit 2; ``--debug`` shows the traceback. Ctrl-C exits 130 after cleaning up.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from livecat import __version__
from livecat.errors import LivecatError

log = logging.getLogger("livecat")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Parser(argparse.ArgumentParser):
    """argparse with livecat's one-line errors (no usage block above them)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"livecat: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from livecat.cli import corpus_commands

    parser = Parser(
        prog="livecat",
        description="Real-time audio-reactive video player built on audio-visual "
        "concatenative synthesis.",
        epilog="Run `livecat COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"livecat {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    corpus_commands.register(commands)
    try:
        from livecat.cli import render_command
    except ImportError:  # pragma: no cover - during development
        pass
    else:
        render_command.register(commands)
    try:
        from livecat.cli import live_commands
    except ImportError:  # pragma: no cover
        pass
    else:
        live_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # re-parsed with --config
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s" if not args.debug else "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.run(args) or 0)
    except LivecatError as exc:
        if args.debug:
            raise
        print(f"livecat: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("livecat: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
