"""``livecat build``, ``livecat add`` and ``livecat info``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from livecat.cli import console
from livecat.cli.stream_options import add_audio_stream_option
from livecat.corpus import (
    BuildReport,
    BuildSettings,
    Corpus,
    IndexSettings,
    Weighting,
    build_corpus,
)
from livecat.corpus.build import DEFAULT_GRAIN_SR_HZ, DEFAULT_IMAGE_MAX_SIDE, DEFAULT_JPEG_QUALITY
from livecat.errors import CorpusError, bytes_text, printable
from livecat.features import DESCRIPTOR_KINDS, ENVELOPE_BLOCKS, DescriptorParams, load_scipy


def register(commands: argparse._SubParsersAction) -> None:
    build = commands.add_parser(
        "build",
        help="analyse videos into a new corpus",
        description="Analyse video files (and directories of them, recursively) into a corpus: "
        "one entry per video picture with its image, its grain of sound and a descriptor of "
        "the sound around it. Replaces CORPUS atomically when done.",
        epilog="example: livecat build ~/footage/*.mp4 ~/more-footage -o corpora/mine",
    )
    build.add_argument("inputs", nargs="+", metavar="INPUT", help="video file or directory")
    build.add_argument("-o", "--output", required=True, metavar="CORPUS", help="corpus directory")
    build.add_argument(
        "--size",
        type=int,
        default=DEFAULT_IMAGE_MAX_SIDE,
        metavar="PX",
        help="longest side of stored images in pixels (default %(default)s)",
    )
    build.add_argument(
        "--descriptor",
        choices=DESCRIPTOR_KINDS,
        default=DescriptorParams().kind,
        help="mfcc-pitch (default): timbre + a semitone pitch profile, level-independent; "
        "mfcc-chroma: timbre + 12 pitch classes (the earlier default); "
        "seed: the original raw 16 kHz power spectrum, kept as a baseline",
    )
    build.add_argument(
        "--window",
        type=int,
        default=DescriptorParams().n_fft,
        metavar="SAMPLES",
        help="analysis window at 48 kHz (default %(default)s = 43 ms; longer resolves pitch "
        "better and reacts later)",
    )
    build.add_argument(
        "--pitch-weight",
        type=float,
        default=Weighting().pitch,
        help="weight of pitch (the pitch profile or chroma) against timbre in matching "
        "(default %(default)s)",
    )
    build.add_argument(
        "--timbre-weight",
        type=float,
        default=Weighting().timbre,
        help="weight of timbre (cepstrum) in matching (default %(default)s)",
    )
    add_audio_stream_option(build, of="each INPUT", use="take the grains from")
    build.add_argument(
        "--jpeg-quality", type=int, default=DEFAULT_JPEG_QUALITY, help=argparse.SUPPRESS
    )
    build.add_argument("--hnsw-m", type=int, default=IndexSettings().M, help=argparse.SUPPRESS)
    build.add_argument(
        "--hnsw-ef-construction",
        type=int,
        default=IndexSettings().ef_construction,
        help=argparse.SUPPRESS,
    )
    build.set_defaults(run=run_build)

    add = commands.add_parser(
        "add",
        help="add videos to an existing corpus",
        description="Add video files to CORPUS with its own settings. Files already in it and "
        "unchanged are skipped; changed files are analysed again.",
        epilog="example: livecat add corpora/mine ~/footage/new-take.mp4",
    )
    add.add_argument("corpus", metavar="CORPUS")
    add.add_argument("inputs", nargs="+", metavar="INPUT", help="video file or directory")
    add_audio_stream_option(add, of="each INPUT", use="take the grains from")
    add.set_defaults(run=run_add)

    info = commands.add_parser(
        "info",
        help="describe a corpus",
        description="List a corpus's source files, entry count, sizes on disk and settings.",
        epilog="example: livecat info corpora/demo",
    )
    info.add_argument("corpus", metavar="CORPUS")
    info.set_defaults(run=run_info)


class _Progress:
    """A progress bar on a terminal, one plain line per file otherwise (with ``-q``, only
    the files skipped)."""

    def __init__(self) -> None:
        self.tty = console.progress_bar_wanted()
        self.bar = None

    def progress(self, done: int, total: int, path: Path) -> None:
        if not self.tty:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, unit=" entries", file=sys.stderr, dynamic_ncols=True, smoothing=0.1
            )
        self.bar.total = total
        self.bar.set_description_str(path.name[:30], refresh=False)
        self.bar.update(done - self.bar.n)

    def file_done(self, path: Path, status: str, detail: str) -> None:
        if console.quiet and status != "skipped":
            return
        line = f"{status:>9}  {path}: {detail}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summarise(report: BuildReport, verb: str) -> int:
    out = sys.stderr
    if report.skipped:
        print(f"skipped {len(report.skipped)} input(s):", file=out)
        for path, reason in report.skipped:
            print(f"  {path}: {reason}", file=out)
    speed = report.seconds_analysed / report.wall_s if report.wall_s else 0.0
    if not report.changed:
        verb = "nothing to change in"
    console.summary(
        f"{verb} {report.corpus}: {report.entry_count} entries; {len(report.added)} file(s) "
        f"analysed ({report.seconds_analysed:.1f} s of video in {report.wall_s:.1f} s, "
        f"{speed:.1f}x real time), {len(report.unchanged)} unchanged, "
        f"{len(report.skipped)} skipped"
    )
    return 0


def run_build(args: argparse.Namespace) -> int:
    if args.descriptor == "seed":
        params = DescriptorParams.seed()
    else:
        params = DescriptorParams(kind=args.descriptor, n_fft=args.window)
    settings = BuildSettings(
        params=params,
        grain_sr_hz=DEFAULT_GRAIN_SR_HZ,
        image_max_side=args.size,
        jpeg_quality=args.jpeg_quality,
        index=IndexSettings(M=args.hnsw_m, ef_construction=args.hnsw_ef_construction),
        weighting=Weighting(timbre=args.timbre_weight, pitch=args.pitch_weight),
    )
    report = _build_with_progress(
        args.inputs, args.output, settings=settings, audio_stream=args.audio_stream
    )
    return _summarise(report, "built")


def run_add(args: argparse.Namespace) -> int:
    report = _build_with_progress(
        args.inputs, args.corpus, add_to_existing=True, audio_stream=args.audio_stream
    )
    return _summarise(report, "updated")


def _build_with_progress(inputs, corpus, **kwargs) -> BuildReport:
    load_scipy()  # before the build's clock starts (a build counted 0.5-1 s of it)
    progress = _Progress()
    try:
        return build_corpus(
            inputs, corpus, progress=progress.progress, file_done=progress.file_done, **kwargs
        )
    finally:
        progress.close()


def run_info(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    corpus = Corpus.open(args.corpus, load_index=False)
    corpus.check_index()  # what render and live rely on, without loading it
    opened_ms = (time.perf_counter() - started) * 1000
    m = corpus.manifest
    p = corpus.params
    # Names come from the manifest, which a stranger may have written: escape what a
    # terminal would act on.
    shown = printable
    print(
        f"corpus   {shown(str(corpus.path))}  (format {m['version']}, built by livecat "
        f"{shown(str(m.get('livecat_version', '?')))} on {shown(str(m.get('created', '?')))})"
    )
    paths = [shown(s.path) for s in corpus.sources]
    width = max([len(path) for path in paths] + [4])
    print(f"\n  {'file':<{width}}  {'duration':>9}  {'fps':>6}  {'size':>9}  {'entries':>8}")
    for s, path in zip(corpus.sources, paths, strict=True):
        print(
            f"  {path:<{width}}  {s.duration_s:8.1f}s  {s.fps:6.2f}  "
            f"{s.image_width:>4}x{s.image_height:<4}  {s.entries:8d}"
            + (f"  (sound: audio stream #{s.audio_stream})" if s.audio_stream else "")
        )
    total_s = sum(s.duration_s for s in corpus.sources)
    print(f"\n{len(corpus)} entries from {len(corpus.sources)} file(s), {total_s:.1f} s of video")
    files = m["files"]
    print(
        "on disk  "
        + ", ".join(f"{shown(name)} {bytes_text(size)}" for name, size in files.items())
        + f"; total {bytes_text(sum(files.values()))}"
    )
    if p.kind == "seed":
        print(f"descriptor  seed: raw power spectrum, {p.sr_hz} Hz, {p.n_fft}-point FFT, Hann")
    else:
        if p.kind in ("timbre-pitch", "mfcc-pitch"):
            low, high = p.pitch_midi_range
            pitch = f"{p.pitch_dim}-semitone pitch profile (MIDI {low}-{high})"
            if p.kind == "timbre-pitch":
                pitch = (
                    f"{ENVELOPE_BLOCKS}-part loudness contour + harmonicity + flatness + "
                    f"{pitch} scaled by how pitched the sound is"
                )
            window = f"low-delay window (last {p.window_fall} falling)"
        else:
            pitch = f"12 chroma ({p.chroma_fmin_hz:g}-{p.chroma_fmax_hz:g} Hz)"
            window = "Hann window"
        print(
            f"descriptor  {p.kind}: {p.n_mfcc} cepstral coefficients ({p.n_mels} mel bands, "
            f"{p.fmin_hz:g}-{p.fmax_hz:g} Hz) + {pitch}; {window} of {p.n_fft} samples at "
            f"{p.sr_hz} Hz ({p.window_s * 1000:.0f} ms); weights timbre "
            f"{corpus.weighting.timbre:g}, pitch {corpus.weighting.pitch:g}"
        )
    ix = corpus.index_settings
    print(f"grains   mono, {corpus.grain_sr_hz} Hz, 16-bit")
    print(f"images   JPEG q{m['image']['quality']}, longest side {m['image']['max_side']} px")
    print(
        f"index    HNSW (hnswlib, L2), M={ix.M}, ef_construction={ix.ef_construction}, ef={ix.ef}"
    )
    print(f"opened in {opened_ms:.0f} ms")
    if not corpus.sources:
        raise CorpusError("corpus holds no sources", path=corpus.path)
    return 0
