"""``livecat live``'s options for other software and installations: ``--virtual-camera``,
``--kiosk`` and ``--log-file`` (docs/installations.md), and the few steps ``run_live``
takes for them.

Kept apart from :mod:`livecat.cli.live_commands` so that a new output (NDI, Syphon, Spout:
see :mod:`livecat.output.sinks`) is one flag here and one class there.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from livecat.cli.logfile import log_to_file
from livecat.errors import DeviceError

if TYPE_CHECKING:
    from livecat.live import LivePlayer
    from livecat.output.display import Display


def add_output_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("other software and installations (docs/installations.md)")
    g.add_argument(
        "--virtual-camera",
        nargs="?",
        const="",
        default=None,
        metavar="DEVICE",
        help="also send the picture (without HUD) to a virtual camera that OBS, Zoom or "
        "Resolume can pick: v4l2loopback on Linux (DEVICE e.g. /dev/video4; default the first "
        "free one), the OBS camera on macOS/Windows; works with --headless too; needs "
        "pip install 'livecat[camera]'",
    )
    g.add_argument(
        "--kiosk",
        action="store_true",
        help="an unattended installation: fullscreen, no HUD, keys ignored (stop it with "
        "SIGTERM), a closed window comes back, cursor hidden, the audio device reopened when "
        "it fails or is missing at start, a log file",
    )
    g.add_argument(
        "--log-file",
        metavar="PATH",
        help="also write every message, with timestamps, to this file (rotated: 5 x 1 MiB); "
        "--kiosk's default: $XDG_STATE_HOME/livecat/livecat.log "
        "(~/.local/state/livecat/livecat.log)",
    )


def start_log(args: argparse.Namespace) -> None:
    """The log file, before anything else can go wrong: ``--log-file`` must be writable;
    kiosk's default log is best effort (a read-only home must not stop an installation)."""
    if args.log_file:
        log_to_file(args.log_file)
    elif args.kiosk:
        log_to_file(None, required=False)


def display_settings(
    args: argparse.Namespace, *, geometry: tuple[int, int, int, int] | None, headless: bool
) -> dict[str, Any]:
    """What ``--kiosk`` changes in :class:`~livecat.output.DisplaySettings`: fullscreen, no
    HUD, and — unless ``--screen``/``--window-geometry`` chose — a window the first monitor's
    size, which covers the screen even where no window manager makes it fullscreen."""
    if args.kiosk and geometry is None and not headless:
        from livecat.output.kiosk import screen_area

        geometry = screen_area()
    return {
        "fullscreen": args.fullscreen or args.kiosk,
        "hud": args.hud and not args.kiosk,
        "kiosk": args.kiosk,
        "geometry": geometry,
    }


class Outputs:
    """What ``run_live`` opens beside the window (sinks, the hidden cursor) and closes
    after it."""

    def __init__(self) -> None:
        self.cursor: Any = None
        self.display: Display | None = None

    def open(self, args: argparse.Namespace, display: Display, *, headless: bool) -> None:
        """Open the sinks asked for into ``display.sinks`` at its canvas size and rate, and
        hide the cursor in kiosk mode. Raises OutputError when a sink cannot be opened
        (:meth:`close` closes what was opened)."""
        from livecat.output.kiosk import hide_cursor
        from livecat.output.sinks import open_sink

        self.display = display
        if args.virtual_camera is not None:
            width, height = display.size
            display.sinks.add(
                open_sink(
                    "virtual-camera",
                    width=width,
                    height=height,
                    fps=display.settings.fps,
                    device=args.virtual_camera or None,
                )
            )
        if args.kiosk and not headless:
            self.cursor = hide_cursor()

    def close(self) -> None:
        if self.display is not None:
            self.display.sinks.close()
        if self.cursor is not None:
            self.cursor.close()
            self.cursor = None


def start_player(player: LivePlayer, *, kiosk: bool) -> None:
    """``player.start()``; in kiosk mode an audio device that cannot be opened (not plugged
    in yet at boot, the sound server not up yet) is waited for like one lost mid-show: the
    window comes up with INPUT LOST, the device is probed every second, and livecat restarts
    itself with the same arguments once it is back."""
    try:
        player.start()
    except DeviceError as exc:
        if not kiosk:
            raise
        print(f"livecat: --kiosk: {exc}: waiting for the device", file=sys.stderr, flush=True)
