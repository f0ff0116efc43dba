"""``livecat live`` and ``livecat devices``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from livecat.cli import output_options
from livecat.cli.engine_options import add_engine_options, engine_settings
from livecat.errors import DeviceError, ParameterError


def _channels(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected channel numbers like 3,4; got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("channels are numbered from 1")
    return values


def _geometry(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H; got {text!r}") from None
    return x, y, w, h


def _latency(text: str) -> str | float:
    if text in ("low", "high"):
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected low, high or seconds") from None


def register(commands: argparse._SubParsersAction) -> None:
    live = commands.add_parser(
        "live",
        help="play a corpus live from a microphone, a line input or a file",
        description="Listen to the input, show the corpus image that sounds most like it and "
        "play its grain, in real time.",
        epilog="examples:\n"
        "  livecat live corpora/mine                         # default mic, default output\n"
        "  livecat live corpora/mine -i Scarlett --input-channels 3,4 --fullscreen\n"
        "  livecat live corpora/mine --input-file set.wav --headless --matches picks.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    live.add_argument("corpus", metavar="CORPUS")
    audio = live.add_argument_group("audio")
    audio.add_argument(
        "-i",
        "--input",
        metavar="DEVICE",
        help="input device: index or name substring (see `livecat devices`)",
    )
    audio.add_argument("-o", "--output", metavar="DEVICE", help="output device")
    audio.add_argument(
        "--input-channels",
        type=_channels,
        metavar="3,4",
        help="input channels to use (from 1), mixed to mono (default 1)",
    )
    audio.add_argument(
        "--samplerate", type=int, metavar="HZ", help="device rate; must equal the corpus's (48000)"
    )
    audio.add_argument(
        "--blocksize",
        type=int,
        default=256,
        metavar="FRAMES",
        help="frames per audio block (%(default)s)",
    )
    audio.add_argument(
        "--latency",
        type=_latency,
        default="low",
        metavar="low|high|SECONDS",
        help="device latency (%(default)s)",
    )
    audio.add_argument(
        "--no-grains", action="store_true", help="pictures only: open the input alone, play nothing"
    )
    audio.add_argument(
        "--dry-wet",
        type=float,
        default=1.0,
        metavar="0..1",
        help="0 = the input only, 1 = the grains only (%(default)s)",
    )
    audio.add_argument(
        "--input-file",
        type=Path,
        metavar="FILE",
        help="feed this file instead of an input device, in real time",
    )
    audio.add_argument("--loop", action="store_true", help="loop --input-file")
    audio.add_argument(
        "--matcher",
        choices=("worker", "callback"),
        default="worker",
        help="where decisions run: a matcher thread, grains one block later (default), or "
        "inside the audio callback (no extra block; needs CPU to spare)",
    )
    screen = live.add_argument_group("picture")
    screen.add_argument("--fullscreen", action="store_true")
    screen.add_argument("--screen", type=int, metavar="N", help="open on monitor N (X11)")
    screen.add_argument("--window-geometry", type=_geometry, metavar="X,Y,W,H")
    screen.add_argument(
        "--headless", action="store_true", help="no window: print each picture change"
    )
    screen.add_argument("--hud", action="store_true", help="start with the HUD on (key d)")
    run = live.add_argument_group("run")
    run.add_argument(
        "--matches",
        metavar="FILE.csv",
        help="log t_s,source,source_t_s,entry,distance at every picture change",
    )
    run.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    output_options.add_output_options(live)
    add_engine_options(live)
    live.set_defaults(run=run_live)

    devices = commands.add_parser(
        "devices",
        help="list audio devices",
        description="List audio devices with their index, host API and channels; the "
        "defaults are marked. Pass an index or a name substring to live -i/-o.",
        epilog="example: livecat devices",
    )
    devices.set_defaults(run=run_devices)


def run_devices(args: argparse.Namespace) -> int:
    from livecat.live import describe_devices

    print(describe_devices())
    return 0


def _have_devices() -> tuple[bool, bool]:
    try:
        from livecat.live.devices import sounddevice

        devices = sounddevice().query_devices()
    except (DeviceError, Exception):
        return False, False
    return (
        any(d["max_input_channels"] > 0 for d in devices),
        any(d["max_output_channels"] > 0 for d in devices),
    )


def run_live(args: argparse.Namespace) -> int:
    from livecat.corpus import Corpus
    from livecat.live import LivePlayer, LiveSettings
    from livecat.live.player import DECISIONS, JUMPS, LATE_GRAINS, STREAM_T
    from livecat.output import Display, DisplaySettings, screen_geometry
    from livecat.render.mosaic import MatchLog

    output_options.start_log(args)
    if not 0.0 <= args.dry_wet <= 1.0:
        raise ParameterError(f"--dry-wet must be 0..1, got {args.dry_wet}")
    corpus = Corpus.open(args.corpus)
    input_file = args.input_file
    silent = False
    if input_file is not None and args.output is None:
        if args.no_grains and args.dry_wet == 1.0:
            silent = True  # nothing to play: no device needed
        elif not _have_devices()[1]:
            print("livecat: no audio output device: running without sound", file=sys.stderr)
            silent = True
    headless = args.headless
    if (
        not headless
        and sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        print("livecat: no display: running headless, printing what it shows", file=sys.stderr)
        headless = True
    geometry = args.window_geometry
    if args.screen is not None:
        try:
            geometry = screen_geometry(args.screen)
        except OSError as exc:
            raise DeviceError(str(exc)) from None
    settings = LiveSettings(
        input_device=args.input,
        output_device=args.output,
        input_channels=args.input_channels,
        samplerate_hz=args.samplerate,
        blocksize=args.blocksize,
        latency=args.latency,
        grains=not args.no_grains,
        dry=1.0 - args.dry_wet,
        wet=args.dry_wet,
        input_file=input_file,
        loop_input=args.loop,
        silent=silent,
        matcher=args.matcher,
    )
    player = LivePlayer(corpus, engine_settings=engine_settings(args), settings=settings)
    log = MatchLog(args.matches, corpus) if args.matches else None
    display = Display(
        corpus,
        player,
        settings=DisplaySettings(
            headless=headless,
            duration_s=args.duration,
            stop_at_end_of_input=not args.loop,
            # fullscreen, hud, kiosk, geometry
            **output_options.display_settings(args, geometry=geometry, headless=headless),
        ),
        on_change=(lambda t, e, st, d: log.row(t, e, st, d)) if log else None,
    )

    def request_stop(signum: int, frame: object) -> None:
        display.stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    outputs = output_options.Outputs()
    try:
        outputs.open(args, display, headless=headless)
        output_options.start_player(player, kiosk=args.kiosk)
        display.run()
    except KeyboardInterrupt:
        pass
    finally:
        player.stop()
        outputs.close()
        if log:
            log.close()
    p50, p99 = player.callback_percentiles()
    block_ms = settings.blocksize / player.sr_hz * 1000
    c = player.counters
    print(
        f"livecat: stopped after {player.shared[STREAM_T]:.1f} s: {c[DECISIONS]} decisions, "
        f"{c[JUMPS]} jumps, {player.xruns()} xruns, {c[LATE_GRAINS]} late grains; callback "
        f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms of a {block_ms:.1f} ms block",
        file=sys.stderr,
    )
    player.close()
    if player.matcher_error is not None:  # a bug, not a user error: say so and fail
        print(f"livecat: the matcher stopped: {player.matcher_error!r}", file=sys.stderr)
        return 1
    if player.restart_wanted and not display.stop_requested:
        print("livecat: the audio device is back: restarting", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "livecat", *sys.argv[1:]])
    if player.stuck:
        # PortAudio still holds a stream whose server vanished; its exit handler would block
        # on it. Everything of ours is written and closed: leave without it.
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(0)
    return 0
