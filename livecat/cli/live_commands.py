"""``livecat live`` and ``livecat devices``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from livecat.cli import console, output_options
from livecat.cli.engine_options import (
    add_engine_options,
    add_param_flag,
    base_settings,
    param_values,
)
from livecat.cli.stream_options import add_audio_stream_option, say_which_stream
from livecat.control.params import PARAMS_BY_NAME
from livecat.errors import DeviceError, ParameterError

# Options that are not start-up settings: never read from or written to [setup].
NOT_SETUP = {"help", "config", "dump_config", "corpora", "midi_input"}  # midi_input: [midi]
_live_parser: argparse.ArgumentParser | None = None  # set by register(); re-parsed for --config


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


def _osc_listen(text: str) -> str:
    """Checked here (one-line argparse error), kept as text: [setup] saves it as written."""
    from livecat.control.osc import parse_endpoint

    try:
        parse_endpoint(text, allow_port_zero=True)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _osc_send(text: str) -> str:
    from livecat.control.osc import parse_endpoint

    try:
        parse_endpoint(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def register(commands: argparse._SubParsersAction) -> None:
    live = commands.add_parser(
        "live",
        help="play a corpus live from a microphone, a line input or a file",
        description="Listen to the input, show the corpus image that sounds most like it and "
        "play its grain, in real time.",
        epilog="examples:\n"
        "  livecat live corpora/mine                         # default mic, default output\n"
        "  livecat live corpora/mine -i Scarlett --input-channels 3,4 --fullscreen\n"
        "  livecat live corpora/a corpora/b --corpus-fade 2  # switch with [ ] or 1-9\n"
        "  livecat live --config set.toml --dump-config set.toml   # an installation\n"
        "  livecat live corpora/mine --input-file set.wav --headless --matches picks.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    global _live_parser
    _live_parser = live
    live.add_argument(
        "corpora",
        nargs="*",
        metavar="CORPUS",
        help="one or more corpora (switched live); may come from --config instead",
    )
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
        help="input channels to use (from 1), mixed to mono (default 1; with --input-file, "
        "the file's channels, default: all of them)",
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
    for name in ("dry_wet", "volume", "corpus_fade"):
        add_param_flag(audio, PARAMS_BY_NAME[name])
    audio.add_argument(
        "--input-file",
        type=Path,
        metavar="FILE",
        help="feed this file instead of an input device, in real time",
    )
    add_audio_stream_option(audio, of="--input-file", use="feed")
    audio.add_argument("--loop", action="store_true", help="loop --input-file")
    audio.add_argument(
        "--matcher",
        choices=("worker", "callback"),
        default="worker",
        help="where decisions run: a matcher thread, grains one block later (default), or "
        "inside the audio callback (no extra block; needs CPU to spare)",
    )
    audio.add_argument(
        "--audio",
        choices=("python", "rtmixer"),
        default="python",
        help="the audio callback: Python (default), or rtmixer's C callback fed by a Python "
        'thread, which never waits for the GIL (docs/live.md, "--audio rtmixer")',
    )
    audio.add_argument(
        "--rt-handoff",
        type=int,
        default=2,
        metavar="BLOCKS",
        help="--audio rtmixer: blocks between the input and its grains' earliest output, the "
        "feeder's time to decide (%(default)s; raise it if the HUD counts late grains)",
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
    control = live.add_argument_group('control (docs/control.md, "Set files and live parameters")')
    control.add_argument(
        "--config",
        type=Path,
        metavar="SET.toml",
        help="read corpora, start-up options, parameters and MIDI mappings from a set file; "
        "flags given on the command line win",
    )
    control.add_argument(
        "--dump-config",
        nargs="?",
        const="-",
        metavar="FILE",
        help="alone: print the set these options make and exit; with FILE: play, and keep "
        "FILE equal to the current set (written on every change and at exit)",
    )
    control.add_argument(
        "--midi-input",
        metavar="PORT",
        help="MIDI controller: a part of its port name (see `livecat devices`); the set "
        "file's [midi] input otherwise; needs pip install 'livecat[midi]'",
    )
    control.add_argument(
        "--osc-listen",
        type=_osc_listen,
        metavar="[HOST:]PORT",
        help="take OSC control messages on this UDP port (/livecat/param/NAME VALUE, "
        "/livecat/param/NAME/norm 0..1, /livecat/action/NAME, /livecat/corpus/load NAME); "
        "only from this machine unless HOST is given (0.0.0.0: the network). Off by default",
    )
    control.add_argument(
        "--osc-send",
        type=_osc_send,
        metavar="[HOST:]PORT",
        help="send OSC feedback there at display rate (/livecat/status/entry, source, "
        "source_t, level, xruns; parameters and toggles when they change); host 127.0.0.1 "
        "unless given",
    )
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


def run_devices(args: argparse.Namespace) -> NoReturn:
    from livecat.live import describe_devices

    print(describe_devices())
    sys.stdout.flush()
    try:
        from livecat.control.midi import describe_inputs

        with _quiet_stderr():  # ALSA and JACK print their probing failures on fd 2
            midi = describe_inputs()
    except Exception as exc:  # MIDI is optional: say why it is not listed
        midi = f"({str(exc).splitlines()[0]})"
    print("MIDI inputs (live --midi-input):")
    print("\n".join(line if line.startswith("  ") else f"  {line}" for line in midi.splitlines()))
    _leave(0)  # PortAudio's JACK client was opened to list the devices: see _leave


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C libraries writing to file descriptor 2 for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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


def _setup_actions() -> dict[str, argparse.Action]:
    """The ``livecat live`` options a set file's [setup] may hold, by key."""
    assert _live_parser is not None
    return {
        a.dest: a
        for a in _live_parser._actions
        if a.option_strings and a.dest not in NOT_SETUP and a.dest not in PARAMS_BY_NAME
    }


def _setup_value(action: argparse.Action, value: object, base: Path) -> object:
    """A [setup] value converted the way the command line converts the flag's text."""
    if action.nargs == 0:  # store_true
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if isinstance(value, bool | dict):
        raise ValueError(f"expected what {action.option_strings[-1]} takes, got {value!r}")
    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    converted = action.type(text) if callable(action.type) else text
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"expected one of {', '.join(map(str, action.choices))}")
    if isinstance(converted, Path) and not converted.is_absolute():
        converted = base / converted  # relative to the set file, as corpora are
    return converted


def _apply_config(args: argparse.Namespace, config) -> argparse.Namespace:
    """Parse the command line again with the set file's [setup] as defaults."""
    from livecat.cli.main import build_parser

    parser = build_parser()  # a fresh parser; register() points _live_parser at it
    actions = _setup_actions()
    defaults = {}
    base = config.path.parent if config.path is not None else Path()
    for key, value in config.setup.items():
        action = actions.get(key)
        if action is None:
            raise config.error(
                "setup",
                key,
                f"unknown key {key!r} in [setup] (known: {', '.join(sorted(actions))}; "
                "live parameters go in [params])",
            )
        try:
            defaults[action.dest] = _setup_value(action, value, base)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise config.error("setup", key, f"{key}: {exc}") from None
    assert _live_parser is not None
    _live_parser.set_defaults(**defaults)
    return parser.parse_args(args.argv)


def _setup_to_save(args: argparse.Namespace) -> dict[str, object]:
    """The start-up options that differ from their defaults, as TOML-ready values."""
    from livecat.cli.main import build_parser

    config_defaults = _live_parser._defaults if _live_parser is not None else {}
    build_parser()  # fresh: the defaults before any set file
    out: dict[str, object] = {}
    for dest, action in _setup_actions().items():
        value = getattr(args, dest, None)
        if value is None or (value == action.default and dest not in config_defaults):
            continue
        if isinstance(value, Path):
            value = value.resolve()  # written relative to the set file (dump_config)
        elif isinstance(value, tuple):
            value = list(value)
        out[dest] = value
    return out


def run_live(args: argparse.Namespace) -> int:
    from livecat.cli.logrepeats import limit_repeats
    from livecat.control.config import MidiConfig, dump_config, load_config
    from livecat.control.state import Controls
    from livecat.corpus import Corpus
    from livecat.live import LivePlayer, LiveSettings
    from livecat.live.player import DECISIONS, JUMPS, LATE_GRAINS, STREAM_T
    from livecat.live.session import LiveSession
    from livecat.media import probe
    from livecat.output.display import Display, DisplaySettings, screen_geometry
    from livecat.output.files import MatchLog, refuse_to_replace

    config = None
    if args.config is not None:
        config = load_config(args.config)
        args = _apply_config(args, config)
    output_options.start_log(args)  # after the set file: [setup] may turn on --kiosk
    flush_repeats = limit_repeats()  # a flood of requests cannot flood the log
    corpus_paths = list(args.corpora) or (config.corpora if config else [])
    if not corpus_paths:
        raise ParameterError("livecat live needs a corpus: livecat live CORPUS [CORPUS ...]")
    values = param_values(args, config.params if config else None)
    midi_config = config.midi if config else MidiConfig()
    if args.midi_input:
        midi_config = dataclasses.replace(midi_config, input=args.midi_input)
    controls = Controls(values)
    setup = _setup_to_save(args)
    saved_corpora = [str(Path(c).resolve()) for c in corpus_paths]
    if args.dump_config == "-":
        print(
            dump_config(corpora=saved_corpora, setup=setup, params=values, midi=midi_config),
            end="",
        )
        return 0
    dump_path = Path(args.dump_config) if args.dump_config else None
    if dump_path is not None and dump_path.is_dir():
        raise ParameterError(
            f"--dump-config {dump_path}: that is a directory; give a .toml file (put "
            "corpora before --dump-config)"
        )
    corpora = [Corpus.open(p) for p in corpus_paths]
    input_file = args.input_file
    if input_file is None and args.audio_stream is not None:
        raise ParameterError("--audio-stream picks one of --input-file's audio streams")
    if input_file is not None:
        streams = probe(input_file).audio_streams
        say_which_stream(input_file, streams, chosen=args.audio_stream, did="feeding")
    if args.matches:  # before the engines are built and warmed up, not after
        refuse_to_replace(
            args.matches, "match log", target=input_file, corpora=corpora, target_is="the input"
        )
    silent = False
    if input_file is not None and args.output is None:
        if args.no_grains and values["dry_wet"] == 1.0:
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
        dry=1.0 - float(values["dry_wet"]),
        wet=float(values["dry_wet"]),
        input_file=input_file,
        input_stream=args.audio_stream or 0,
        loop_input=args.loop,
        silent=silent,
        matcher=args.matcher,
        audio=args.audio,
        rt_handoff_blocks=args.rt_handoff,
    )
    base = base_settings(args)
    player = LivePlayer(
        corpora,
        engine_settings=base,
        settings=settings,
        names=_deck_names(corpus_paths),
    )
    session = LiveSession(
        player,
        controls=controls,
        base_settings=base,
        corpora=saved_corpora,
        setup=setup,
        config_path=args.config,
        dump_path=dump_path,
        midi=midi_config,
    )
    log = MatchLog(args.matches, corpora[0], on_failure=_matches_lost) if args.matches else None
    display = Display(
        corpora[0],
        player,
        settings=DisplaySettings(
            headless=headless,
            duration_s=args.duration,
            stop_at_end_of_input=not args.loop,
            # fullscreen, hud, kiosk, geometry
            **output_options.display_settings(args, geometry=geometry, headless=headless),
        ),
        on_change=(
            (
                lambda t, e, st, d: log.row(
                    t, e, st, d, corpus=player.decks[display.shown_deck].corpus
                )
            )
            if log
            else None
        ),
    )
    session.attach(display)
    session.every_second.append(flush_repeats)
    midi_port = _start_midi(session, display, midi_config)
    session.start()
    try:
        osc = _start_osc(args, session)
    except BaseException:  # a port in use: leave nothing open behind the one-line error
        if midi_port is not None:
            midi_port.close()
        raise

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
        for endpoint in osc:
            endpoint.close()
        player.stop(release=False)  # closed by the process's end: see _leave
        session.close()
        outputs.close()
        if midi_port is not None:
            midi_port.close()
        if log:
            log.close()
        flush_repeats(final=True)
    p50, p99 = player.callback_percentiles()
    block_ms = settings.blocksize / player.sr_hz * 1000
    c = player.counters
    console.summary(
        f"livecat: stopped after {player.shared[STREAM_T]:.1f} s: {c[DECISIONS]} decisions, "
        f"{c[JUMPS]} jumps, {player.xruns()} xruns, {c[LATE_GRAINS]} late grains; "
        f"{'feeder' if player.rt is not None else 'callback'} "
        f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms of a {block_ms:.1f} ms block"
    )
    for endpoint in osc:
        console.summary(f"livecat: {endpoint.summary()}")
    player.close()
    if player.matcher_error is not None:  # a bug, not a user error: say so and fail
        print(f"livecat: the matcher stopped: {player.matcher_error!r}", file=sys.stderr)
        _leave(1)
    if player.restart_wanted and not display.stop_requested:
        print("livecat: the audio device is back: restarting", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "livecat", *sys.argv[1:]])
    _leave(0)


def _matches_lost(error: Exception) -> None:
    """A ``--matches`` log that can no longer be written (a full disk) ends the log, never
    the set: said once, from the display loop."""
    print(f"livecat: {error}: the picks are no longer logged; the set goes on", file=sys.stderr)


def _leave(code: int) -> NoReturn:
    """End the process without PortAudio's teardown, once everything of ours is written.

    Closing a stream and ``Pa_Terminate`` are where PortAudio talks to the sound server one
    last time, and both can go wrong in ways Python cannot catch: Debian's PortAudio 19.6
    aborts the process when JACK refuses a port unregister or a deactivate (PortAudio issue
    #819; seen here on a loaded machine), and it blocks for good on a server that vanished.
    The stream is already stopped; the server drops the client when the process ends.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _start_osc(args: argparse.Namespace, session) -> list:
    """Open --osc-listen and --osc-send (a port in use: a one-line DeviceError, nothing left
    open); the feedback becomes one of the session's per-tick observers."""
    from livecat.control.osc import OscControl, OscFeedback, parse_endpoint
    from livecat.errors import LivecatError

    opened: list = []
    try:
        if args.osc_listen:
            host, port = parse_endpoint(args.osc_listen, allow_port_zero=True)
            opened.append(OscControl(session.controls, host=host, port=port).start())
        if args.osc_send:
            host, port = parse_endpoint(args.osc_send)
            feedback = OscFeedback(host=host, port=port)
            opened.append(feedback)
            session.observers.append(feedback.send)
    except LivecatError:
        for endpoint in opened:
            endpoint.close()
        raise
    return opened


def _deck_names(paths: list[str]) -> list[str]:
    """Short names for the corpora: their directory names, made unique with a number."""
    names: list[str] = []
    for path in paths:
        name = Path(path).resolve().name or str(path)
        candidate, n = name, 2
        while candidate in names:
            candidate, n = f"{name}-{n}", n + 1
        names.append(candidate)
    return names


def _start_midi(session, display, midi_config) -> object | None:
    """MIDI when a port or mappings are configured: the mapper feeds the session's controls,
    learned mappings go into ``--dump-config``, ``reload_config`` replaces them, the window
    gets the learn keys, and the port is checked (and reopened) once a second."""
    if midi_config.input is None and not midi_config.cc and not midi_config.note:
        return None
    from livecat.control.midi import LearnMenu, open_midi

    mapper, port = open_midi(session.controls, midi_config)
    session.midi_mappings = mapper.mappings
    session.on_midi_config = mapper.replace
    display.learn = LearnMenu(mapper)
    if port is not None:
        session.every_second.append(port.check)
    return port
