"""`make bench`: livecat against a baseline measured in the same run on the same machine.

Prints ratios, not absolute times alone: these machines are shared and noisy. Sections:
build throughput vs plain PyAV decoding; Corpus.open on 1,000,000 entries; render speed vs the
original method and vs encoding the render's output alone; the music (pitch-class F1, also
on plucked instruments, every note an onset) and speech (loudness envelope) quality
benchmarks; sound that is not a note and the self-target
(bench/kinds.py: noise bursts against footage full of silence, a cut of the corpus's own
sound, a sung melody, speech envelopes; bench/percussion.py: GM drums and a beatbox-like
target against a drum corpus); the live benchmarks (bench/live_bench.py) when
JACK is available; and the soak (bench/soak.py: an hour of input through the live player,
faster than real time, memory and block time).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

WORK = HERE.parent / ".bench-work"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="sections: build open render music plucked speech noise self sung "
        "speech-envelope drums beatbox live soak (default: all)",
    )
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=60.0,
        help="length of the JACK xrun run (the issue's figure: 300)",
    )
    parser.add_argument(
        "--soak-minutes", type=int, default=60, help="simulated minutes of the soak (60)"
    )
    args = parser.parse_args(argv)
    # Figures reach a log file as they are printed (a real stream; not a test's capture).
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    WORK.mkdir(exist_ok=True)
    import kinds
    import quality
    import speed

    sections = args.only or [
        "build",
        "open",
        "render",
        "music",
        "plucked",
        "speech",
        *kinds.SECTIONS,
        "drums",
        "beatbox",
        "live",
        "soak",
    ]

    results: list[tuple[str, str]] = []
    started = time.perf_counter()
    for name in sections:
        print(f"\n== {name} ==", flush=True)
        if name == "build":
            results += speed.bench_build(WORK)
        elif name == "open":
            results += speed.bench_open(WORK)
        elif name == "render":
            results += speed.bench_render(WORK)
        elif name == "music":
            results += quality.bench_music(WORK)
        elif name == "plucked":  # every note an onset
            results += quality.bench_music(WORK, targets=quality.PLUCKED_TARGETS, section="plucked")
        elif name == "speech":
            results += quality.bench_speech(WORK)
        elif name in kinds.SECTIONS:  # sound that is not a note, and the self-target
            results += kinds.SECTIONS[name](WORK)
        elif name in ("drums", "beatbox"):
            import percussion

            results += getattr(percussion, f"bench_{name}")(WORK)
        elif name == "live":
            # Its own process: the JACK client's teardown has ended a process without
            # Python's exit (2026-12-06: `make bench > log` lost the live figures and this
            # summary), which must not take the other sections' figures with it.
            done = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "live_bench.py"),
                    "--xrun-seconds",
                    str(args.live_seconds),
                    "--transients",  # onset-to-grain for drum hits and noise bursts
                ]
            )
            if done.returncode:
                print(f"live benchmark ended with status {done.returncode}")
        elif name == "soak":
            import soak

            results += soak.bench_soak(WORK, minutes=args.soak_minutes)
        else:
            parser.error(f"unknown section {name!r}")
    print("\n== summary ==")
    for key, value in results:
        print(f"{key:<48} {value}")
    print(f"(bench took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
