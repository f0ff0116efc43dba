"""Speed benchmarks: build throughput, Corpus.open at 1M entries, render speed."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np


def _make_footage(work: Path, *, size: str = "640x360") -> list[Path]:
    """Three 20-second videos with real content (FFmpeg test sources + music-like sound),
    made once and reused."""
    import mediagen

    out = []
    d = work / ("footage" if size == "640x360" else f"footage-{size}")
    d.mkdir(exist_ok=True)
    for i, (src, freqs) in enumerate(
        [
            ("testsrc2", [220, 330, 440, 550]),
            ("smptehdbars", [262, 294, 330, 349, 392]),
            ("mandelbrot", [110, 165, 220, 247]),
        ]
    ):
        path = d / f"footage{i}.mp4"
        if not path.exists():
            wav = d / f"footage{i}.wav"
            audio = mediagen.tone_sequence(freqs * 10, note_s=0.5, sr_hz=48000)[: 20 * 48000]
            mediagen.write_audio(wav, audio, sr_hz=48000)
            subprocess.run(
                [
                    "ffmpeg",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    f"{src}=size=640x360:rate=25",
                    "-i",
                    str(wav),
                    "-t",
                    "20",
                    "-c:v",
                    "libx264",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    "-shortest",
                    str(path),
                ],
                check=True,
            )
        out.append(path)
    return out


def _plain_decode(paths: list[Path]) -> float:
    """Wall seconds for PyAV to decode every picture and all sound of the files (threaded
    decoding, no conversion): the floor any corpus builder stands on."""
    started = time.perf_counter()
    for path in paths:
        with av.open(str(path)) as f:
            f.streams.video[0].thread_type = "AUTO"
            for _ in f.decode(video=0):
                pass
        with av.open(str(path)) as f:
            for _ in f.decode(audio=0):
                pass
    return time.perf_counter() - started


def bench_build(work: Path) -> list[tuple[str, str]]:
    from livecat.corpus import build_corpus

    results = []
    for size in ("640x360", "1280x720"):
        paths = _make_footage(work, size=size)
        seconds = 0.0
        for p in paths:
            with av.open(str(p)) as f:
                seconds += f.duration / 1e6
        decode_s = min(_plain_decode(paths) for _ in range(2))
        build_s = []
        for _ in range(2):
            started = time.perf_counter()
            build_corpus(paths, work / f"footage-corpus-{size}")
            build_s.append(time.perf_counter() - started)
        build = min(build_s)
        print(
            f"{seconds:.0f} s of {size} 25 fps video: plain PyAV decode {decode_s:.2f} s "
            f"({seconds / decode_s:.1f}x real time), livecat build {build:.2f} s "
            f"({seconds / build:.1f}x real time), ratio {decode_s / build:.2f}"
        )
        results += [
            (f"build throughput {size} (video s per wall s)", f"{seconds / build:.1f}"),
            (f"build / plain decode {size} (goal >= 0.5)", f"{decode_s / build:.2f}"),
        ]
    return results


def bench_open(work: Path) -> list[tuple[str, str]]:
    """Corpus.open at 1M entries with the index loaded, against the same open with the index
    file's check (livecat.corpus.hnsw_file) skipped: hnswlib alone, as before the check."""
    from synthetic import write_synthetic_corpus

    path = write_synthetic_corpus(work / "synthetic-1m", entries=1_000_000)
    code = (
        "import time,sys\n"
        "from livecat.corpus import Corpus, store\n"
        "if sys.argv[2] == 'unchecked': store.check_index_file = lambda *a, **k: None\n"
        "rss=lambda: int(open('/proc/self/statm').read().split()[1])*4096/2**20\n"
        "r0=rss(); t=time.perf_counter(); c=Corpus.open(sys.argv[1]); c.index\n"
        "print(time.perf_counter()-t, rss()-r0, rss(), len(c))\n"
    )
    runs: dict[str, list[list[float]]] = {"checked": [], "unchecked": []}
    for _ in range(3):  # alternating, so both see the same machine
        for kind, found in runs.items():
            out = subprocess.run(
                [sys.executable, "-c", code, str(path), kind],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            found.append([float(v) for v in out])
    open_s, grown, total, n = min(runs["checked"])
    bare_s, bare_grown, _, _ = min(runs["unchecked"])
    print(
        f"Corpus.open on {int(n)} entries (index loaded and checked): {open_s:.2f} s, "
        f"+{grown:.0f} MiB resident ({total:.0f} MiB for the process); without the index "
        f"check {bare_s:.2f} s, +{bare_grown:.0f} MiB"
    )
    return [
        ("Corpus.open, 1M entries (goal < 2 s)", f"{open_s:.2f} s"),
        ("  with the index check vs without (goal <= 1.3x)", f"{open_s / bare_s:.2f}x"),
        ("resident memory after open, 1M entries", f"+{grown:.0f} MiB (+{bare_grown:.0f})"),
    ]


def _built_with(directory: Path, params) -> bool:
    """Whether ``directory`` holds a finished corpus built with these descriptor params."""
    from livecat.corpus import Corpus
    from livecat.errors import CorpusError

    try:
        return Corpus.open(directory, load_index=False).params == params
    except CorpusError:
        return False


RENDER_RUNS = 5


def bench_render(work: Path) -> list[tuple[str, str]]:
    import seed_method

    from livecat.corpus import BuildSettings, Corpus, build_corpus
    from livecat.features import DescriptorParams
    from livecat.render import render
    from livecat.synthesis import EngineSettings

    paths = _make_footage(work)
    corpus_dir = work / "footage-corpus"
    seed_dir = work / "footage-corpus-seed"
    for directory, params in (
        (corpus_dir, DescriptorParams()),
        (seed_dir, DescriptorParams.seed()),
    ):
        if not _built_with(directory, params):  # kept between runs while the descriptor holds
            build_corpus(paths, directory, settings=BuildSettings(params=params))
    target = work / "footage" / "footage1.wav"
    target_s = 20.0
    out = work / "render.mp4"
    corpus = Corpus.open(corpus_dir)
    # Each figure is the best of several runs: on a shared machine other tenants only ever
    # slow a CPU-bound job down, so the fastest run is the closest to what the code costs
    # (timeit's rule); the median says how much the machine's noise took on the day.
    times = [render(corpus, target, out, size=(640, 360)).wall_s for _ in range(RENDER_RUNS)]
    speed = target_s / min(times)
    typical = target_s / statistics.median(times)
    encode_only = target_s / _encode_only(out, work / "encode-only.mp4")
    seed_corpus = Corpus.open(seed_dir)
    seed_in_livecat = target_s / min(
        render(seed_corpus, target, out, size=(640, 360), settings=EngineSettings.plain()).wall_s
        for _ in range(2)
    )
    short_s = 5.0
    original = short_s / min(
        seed_method.render_original(paths, target, work / "original.mp4", seconds=short_s)
        for _ in range(2)
    )
    print(
        f"render 640x360: livecat {speed:.1f}x real time (best of {RENDER_RUNS}; median "
        f"{typical:.1f}x); the original method (raw 16 kHz spectrum, brute-force NN, "
        f"one-picture clips cut from the videos) {original:.2f}x; seed descriptor inside "
        f"livecat's engine {seed_in_livecat:.1f}x; encoding the render's own pictures and sound "
        f"alone {encode_only:.1f}x (the render runs this same writer, so it cannot go faster)"
    )
    shutil.rmtree(work / "original-clips", ignore_errors=True)
    return [
        (f"render 640x360, x real time, best of {RENDER_RUNS} (goal >= 20)", f"{speed:.1f}"),
        (f"render 640x360, x real time, median of {RENDER_RUNS}", f"{typical:.1f}"),
        ("original method render, x real time", f"{original:.2f}"),
        ("livecat / original render speed", f"{speed / original:.0f}x"),
        ("seed descriptor in livecat's engine, x real time", f"{seed_in_livecat:.1f}"),
        ("encoding the same pictures + sound alone, x real time", f"{encode_only:.1f}"),
        ("render / encoding alone", f"{speed / encode_only:.2f}"),
    ]


def _encode_only(rendered: Path, out: Path) -> float:
    """Best wall seconds of two runs for livecat's writer to encode ``rendered``'s own pictures
    and sound again, decoded beforehand: the render runs this same writer, so this is its
    ceiling on this machine (the engine, image decoding and letterboxing are left out)."""
    from fractions import Fraction

    from livecat.media import decode_audio
    from livecat.media.encode import MosaicWriter

    with av.open(str(rendered)) as f:
        rate = Fraction(f.streams.video[0].average_rate)
        sr = f.streams.audio[0].rate
        images = [frame.to_ndarray(format="bgr24") for frame in f.decode(video=0)]
    sound = decode_audio(rendered, sr_hz=sr, align_to_video=False)
    height, width = images[0].shape[:2]
    per_image = sound.size / len(images)
    walls = []
    for _ in range(2):
        started = time.perf_counter()
        with MosaicWriter(out, size=(width, height), fps=rate, sr_hz=sr) as writer:
            for k, image in enumerate(images):
                writer.write_image(image)
                writer.write_audio(sound[round(k * per_image) : round((k + 1) * per_image)])
        walls.append(time.perf_counter() - started)
    out.unlink(missing_ok=True)
    return min(walls)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parent / "tests")]
    w = here.parent / ".bench-work"
    w.mkdir(exist_ok=True)
    for fn in (bench_build, bench_open, bench_render):
        print(fn(w))
    _ = np
