"""``livecat`` entry point: argument parsing, logging, and one-line errors.

User errors (every :class:`~livecat.errors.LivecatError`) print one line, ``livecat: ...``,
and exit 2; ``--debug`` shows the traceback. Ctrl-C exits 130 after cleaning up. ``-q``,
``-v`` and ``--debug`` go before or after the subcommand.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from livecat import __version__
from livecat.cli import console
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
    _add_global_options(parser, default=False)
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
    for command in commands.choices.values():
        # After the subcommand too (`livecat render ... --debug`); SUPPRESS keeps a value
        # given before the subcommand when it is not repeated after it.
        _add_global_options(command, default=argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    g = parser.add_argument_group("output")
    g.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="only warnings and errors: no progress bar, no summary line",
    )
    g.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logs as well"
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="debug logs, and a traceback with every error",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # re-parsed with --config
    console.quiet = args.quiet and not (args.verbose or args.debug)
    if args.debug or args.verbose:
        level = logging.DEBUG
    else:
        level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level,
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
