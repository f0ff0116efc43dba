"""``livecat render``."""

from __future__ import annotations

import argparse
import sys

from livecat.cli import console
from livecat.cli.engine_options import add_engine_options, engine_settings
from livecat.cli.stream_options import add_audio_stream_option, say_which_stream
from livecat.corpus import Corpus
from livecat.errors import ParameterError
from livecat.media.encode import X264_PRESETS


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "render",
        help="re-create a target sound out of a corpus as a mosaic video",
        description="Feed TARGET (any audio or video file) through the same engine the live "
        "player runs and write the pictures and grains it picks as H.264 + AAC.",
        epilog="example: livecat render corpora/demo song.wav -o mosaic.mp4 --matches picks.csv",
    )
    p.add_argument("corpus", metavar="CORPUS")
    p.add_argument("target", metavar="TARGET", help="audio or video file to re-create")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.mp4",
        help="the mosaic: .mp4, .mov or .mkv (never the target or the corpus's footage)",
    )
    p.add_argument("--size", type=_size, metavar="WxH", help="output size (default: corpus's)")
    p.add_argument("--fps", type=float, help="output picture rate, up to 240 (default: corpus's)")
    p.add_argument(
        "--matches",
        metavar="OUT.csv",
        help="write t_s,source,source_t_s,entry,distance per output picture",
    )
    p.add_argument(
        "--mix-target",
        type=float,
        default=0.0,
        metavar="0..1",
        help="mix the target itself into the output sound (default 0)",
    )
    p.add_argument(
        "--lead",
        type=float,
        default=None,
        metavar="SECONDS",
        help="show pictures and play grains this much earlier than the engine decided them, "
        "so the mosaic keeps time with the target (default: the engine's reaction time, "
        "25 ms at the defaults; 0 renders exactly what a live set would show and play)",
    )
    add_audio_stream_option(p, of="TARGET", use="re-create")
    p.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better (20)")
    p.add_argument(
        "--preset",
        default="superfast",
        choices=X264_PRESETS,
        metavar="NAME",
        help=f"x264 speed preset: {', '.join(X264_PRESETS)} (superfast)",
    )
    add_engine_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from livecat.features import load_scipy
    from livecat.render import render

    load_scipy()  # before the render's clock starts (a first render counted 0.5-1 s of it)

    if args.crf < 0 or args.crf > 51:
        raise ParameterError(f"--crf must be 0..51, got {args.crf}")
    corpus = Corpus.open(args.corpus)
    settings = engine_settings(args)
    bar = None
    if console.progress_bar_wanted():
        from tqdm import tqdm

        bar = tqdm(
            total=1.0,
            unit="s",
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]",
        )

    def progress(done_s: float, total_s: float) -> None:
        if bar is not None:
            bar.total = total_s
            bar.update(done_s - bar.n)

    try:
        report = render(
            corpus,
            args.target,
            args.output,
            settings=settings,
            size=args.size,
            fps=args.fps,
            matches=args.matches,
            mix_target=args.mix_target,
            lead_s=args.lead,
            audio_stream=args.audio_stream or 0,
            crf=args.crf,
            preset=args.preset,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    console.summary(
        f"rendered {report.output}: {report.duration_s:.1f} s, {report.images} pictures at "
        f"{report.fps:g} fps, {report.size[0]}x{report.size[1]}, {report.jumps} jumps in "
        f"{report.decisions} decisions, {report.lead_s * 1000:.0f} ms lead; "
        f"{report.speed:.1f}x real time"
    )
    say_which_stream(args.target, report.audio_streams, chosen=args.audio_stream, did="rendered")
    if report.gate_never_opened:
        print(
            f"livecat: nothing in {args.target} rose above the silence gate "
            f"({settings.gate_db:g} dBFS): no footage was chosen; a lower --gate matches "
            "quieter sound",
            file=sys.stderr,
        )
    return 0
