"""Soak benchmark: an hour of varied input through the live player, faster than real time.

Why: a live installation runs for hours. Leaks (resident memory or Python objects that grow
with every block) and slow drifts (per-block time creeping up as state accumulates) do not
show in a one-minute run. This drives the real live path, :class:`livecat.live.LivePlayer`
with the ``worker`` matcher, without an audio device: the benchmark thread plays both the
audio thread (:meth:`LivePlayer.process` on a preallocated 256-frame block) and the matcher
thread (:meth:`LivePlayer.match_pending`), as the unit tests do. The input is generated block
by block (never an hour in memory), so what grows is livecat's, not the benchmark's.

Reported: simulated duration, wall time and speed as a multiple of real time; resident memory
(VmRSS) at the start (after a warm-up), at the end, its maximum and its growth per hour;
per-block time (process + match_pending) p50/p99 in the first and the last simulated minute,
as wall time and as this thread's CPU time (on a shared machine a neighbour's load raises the
first but not the second: a real slowdown raises both);
Python objects alive after ``gc.collect()`` at the start and the end (and which types grew);
and the engine's counters (decisions, jumps, gate closings, picture changes, late grains).

    nice -n 19 .venv/bin/python bench/soak.py                # the hour, 100,000 entries
    nice -n 19 .venv/bin/python bench/soak.py --minutes 5    # a quick look
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from livecat.corpus import Corpus
from livecat.live import LivePlayer, LiveSettings
from livecat.live.player import (
    CALLBACK_ERRORS,
    DECISIONS,
    DROPPED_BLOCKS,
    ENTRY,
    GATED,
    JUMPS,
    LATE_GRAINS,
)
from livecat.synthesis import EngineSettings

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".bench-work"
BLOCK = 256
KINDS = ("tone", "chord", "chirp", "noise", "silence")


class VariedAudio:
    """Endless seeded input, made one block at a time: tones, chords, chirps, noise bursts and
    silences of 80 ms to 4 s, at levels from near the gate to loud, in a mix whose shares
    drift over minutes. It keeps the engine jumping and continuing and the gate opening and
    closing, for as long as asked, in one block of memory."""

    FADE_S = 0.005  # segment edges ramp, so boundaries are not clicks

    def __init__(self, *, sr_hz: int = 48000, seed: int = 0) -> None:
        self.sr_hz = sr_hz
        self.rng = np.random.default_rng(seed)
        self.samples = 0  # generated since the start
        # Each kind's share rises and falls on its own period (5-25 min): the mix changes
        # slowly, but every minute still holds every kind.
        self._period_s = self.rng.uniform(300.0, 1500.0, len(KINDS))
        self._phase = self.rng.uniform(0.0, 2 * math.pi, len(KINDS))
        self._fade = max(1, int(self.FADE_S * sr_hz))
        self._new_segment()

    def _new_segment(self) -> None:
        rng = self.rng
        t = self.samples / self.sr_hz
        weights = 1.0 + 0.8 * np.sin(2 * math.pi * t / self._period_s + self._phase)
        self.kind = KINDS[int(rng.choice(len(KINDS), p=weights / weights.sum()))]
        if self.kind == "silence":
            seconds = rng.uniform(0.3, 3.0)
        else:
            seconds = math.exp(rng.uniform(math.log(0.08), math.log(4.0)))
        self.length = max(self._fade * 2 + 1, int(seconds * self.sr_hz))
        self.pos = 0
        # Loudness (RMS, dBFS) drifts by +-8 dB over 13 minutes around a per-segment pick;
        # the quietest segments sit near the engine's -55 dB gate.
        drift = 8.0 * math.sin(2 * math.pi * t / 780.0)
        level_db = float(np.clip(rng.uniform(-52.0, -12.0) + drift, -62.0, -8.0))
        self.rms = 10 ** (level_db / 20)
        f0 = 80.0 * 2 ** rng.uniform(0.0, 4.5)
        if self.kind == "tone":  # one note with a few harmonics
            self.freqs = f0 * np.arange(1, 5)
            self.amps = rng.uniform(0.1, 1.0, 4) / np.arange(1, 5)
        elif self.kind == "chord":  # a major or minor triad
            third = 4 if rng.random() < 0.5 else 3
            self.freqs = f0 * 2 ** (np.array([0, third, 7]) / 12)
            self.amps = rng.uniform(0.4, 1.0, 3)
        else:
            self.freqs = np.array([f0, f0 * 2 ** rng.uniform(-3.0, 3.0)])  # chirp from, to
            self.amps = np.ones(2)
        self.amps = self.amps / math.sqrt(float((self.amps**2).sum()) / 2)  # RMS 1
        self.vibrato_hz = rng.uniform(4.0, 6.5)
        # Noise: a burst decaying with tau (or nearly steady), through a one-pole low-pass.
        self.tau_s = math.exp(rng.uniform(math.log(0.03), math.log(5.0)))
        self.pole = float(rng.uniform(0.0, 0.95))
        self.noise_gain = 1.0 / math.sqrt((1 - self.pole) / (1 + self.pole))
        self._zi = np.zeros(1)

    def _render(self, out: np.ndarray) -> None:
        """Write the current segment's next ``out.size`` samples."""
        n = out.size
        i = self.pos + np.arange(n)
        t = i / self.sr_hz
        kind = self.kind
        if kind in ("tone", "chord"):
            vibrato = 0.004 / self.vibrato_hz * np.sin(2 * math.pi * self.vibrato_hz * t)
            f = self.freqs[:, None]
            x = self.amps @ np.sin(2 * math.pi * f * (t + vibrato)[None, :])
        elif kind == "chirp":
            duration = self.length / self.sr_hz
            fa, fb = self.freqs
            rate = math.log(fb / fa) / duration
            if abs(rate) < 1e-9:
                x = math.sqrt(2) * np.sin(2 * math.pi * fa * t)
            else:
                x = math.sqrt(2) * np.sin(2 * math.pi * fa * np.expm1(rate * t) / rate)
        elif kind == "noise":
            white = self.rng.standard_normal(n) * self.noise_gain * (1 - self.pole)
            x, self._zi = lfilter([1.0], [1.0, -self.pole], white, zi=self._zi)
            x = x * np.exp(-t / self.tau_s)
        else:  # a microphone's noise floor, far below the gate
            x = self.rng.standard_normal(n) * 10 ** (-90 / 20) / self.rms
        edge = np.minimum(i, self.length - 1 - i)
        x = x * (self.rms * np.minimum(1.0, edge / self._fade))
        np.clip(x, -1.0, 1.0, out=x)
        out[:] = x

    def fill(self, out: np.ndarray) -> None:
        """Write the next ``out.size`` samples of the input into ``out`` (1-D)."""
        done = 0
        while done < out.size:
            take = min(out.size - done, self.length - self.pos)
            self._render(out[done : done + take])
            self.pos += take
            self.samples += take
            done += take
            if self.pos >= self.length:
                self._new_segment()


def rss_mib() -> float:
    """Resident memory of this process now (VmRSS), MiB; NaN where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def _live_objects() -> tuple[int, Counter[str]]:
    """Objects the collector tracks that survive a full collection, and their types.
    (Objects the player froze with ``gc.freeze()`` are not listed: they predate the run.)"""
    gc.collect()
    objects = gc.get_objects()
    types = Counter(type(o).__name__ for o in objects)
    count = len(objects)
    del objects
    return count, types


@dataclass
class SoakResult:
    """Everything the soak measured; minute lists start with the post-warm-up sample."""

    entries: int
    minutes: int
    warmup_s: float
    block: int
    sr_hz: int
    wall_s: float
    rss_mib: list[float]  # start, then after each simulated minute
    objects: list[int]  # live Python objects at the same moments
    p50_ms: list[float]  # per-block wall time in each simulated minute
    p99_ms: list[float]
    max_ms: list[float]
    cpu_p50_ms: list[float]  # per-block CPU time of this thread in each simulated minute
    cpu_p99_ms: list[float]
    grown_types: list[tuple[str, int]]  # the types whose live count grew most, start to end
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def simulated_s(self) -> float:
        return self.minutes * 60.0 + self.warmup_s

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second (the whole run, warm-up included)."""
        return self.simulated_s / self.wall_s if self.wall_s else math.inf

    @property
    def rss_growth_mib_per_h(self) -> float:
        """Least-squares slope of resident memory over the simulated minutes, MiB per hour
        (a single step at the start, like a cache filling, weighs less than in end - start)."""
        rss = np.asarray(self.rss_mib)
        if rss.size < 3:
            return float(rss[-1] - rss[0]) * 60.0 / max(self.minutes, 1)
        hours = np.arange(rss.size) / 60.0
        return float(np.polyfit(hours, rss, 1)[0])


def run_soak(
    corpus: Corpus,
    *,
    minutes: int = 60,
    warmup_s: float = 10.0,
    seed: int = 0,
    engine_settings: EngineSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> SoakResult:
    """Feed ``minutes`` of :class:`VariedAudio` (after ``warmup_s`` unmeasured) through a
    silent worker-matcher :class:`LivePlayer`, block by block, as fast as it goes; measure
    memory every simulated minute and the time of every block."""
    player = LivePlayer(
        corpus,
        engine_settings=engine_settings or EngineSettings(),
        settings=LiveSettings(silent=True, blocksize=BLOCK, matcher="worker"),
    )
    sr = player.sr_hz
    audio = VariedAudio(sr_hz=sr, seed=seed)
    indata = np.zeros((BLOCK, 1), np.float32)
    outdata = np.zeros((BLOCK, 2), np.float32)
    mono = indata[:, 0]
    per_minute = round(60 * sr / BLOCK)
    times = np.zeros(per_minute, np.float64)
    cpu = np.zeros(per_minute, np.float64)
    counters, shared = player.counters, player.shared
    process, match = player.process, player.match_pending
    perf, thread_time = time.perf_counter, time.thread_time
    seen = {"open_decisions": 0, "gate_closings": 0, "picture_changes": 0, "bad_output": 0}
    last_decisions, last_entry, was_gated = 0, -1.0, True

    def block(i: int) -> None:
        nonlocal last_decisions, last_entry, was_gated
        audio.fill(mono)
        cpu_started = thread_time()
        started = perf()
        process(indata, outdata, BLOCK)
        match()
        times[i] = perf() - started
        cpu[i] = thread_time() - cpu_started
        decisions = int(counters[DECISIONS])
        if decisions != last_decisions:
            gated = bool(shared[GATED])
            if not gated:
                seen["open_decisions"] += decisions - last_decisions
            elif not was_gated:
                seen["gate_closings"] += 1
            was_gated, last_decisions = gated, decisions
        if shared[ENTRY] != last_entry:
            last_entry = shared[ENTRY]
            seen["picture_changes"] += 1
        if not float(np.abs(outdata).max()) <= 1e3:  # NaN, inf or absurd
            seen["bad_output"] += 1

    started = perf()
    for i in range(round(warmup_s * sr / BLOCK)):
        block(i % per_minute)
    # The bookkeeping creates a few objects once (numpy's percentile machinery; the ABC caches
    # Counter fills): do it now, so the object count starts from a settled state.
    np.percentile(times, [50, 99])
    _live_objects()
    rss: list[float] = []
    objects: list[int] = []
    p50: list[float] = []
    p99: list[float] = []
    worst: list[float] = []
    cpu_p50: list[float] = []
    cpu_p99: list[float] = []
    rss.append(rss_mib())
    types_start = _live_objects()[1]
    objects.append(_live_objects()[0])  # with the benchmark's own lists and counts in it
    for minute in range(1, minutes + 1):
        for i in range(per_minute):
            block(i)
        rss.append(rss_mib())
        objects.append(_live_objects()[0])
        a, b = np.percentile(times, [50, 99]) * 1e3
        p50.append(float(a))
        p99.append(float(b))
        worst.append(float(times.max() * 1e3))
        c50, c99 = np.percentile(cpu, [50, 99]) * 1e3
        cpu_p50.append(float(c50))
        cpu_p99.append(float(c99))
        if log is not None:
            log(
                f"  minute {minute:>3}: RSS {rss[-1]:7.1f} MiB, objects {objects[-1]:>7}, "
                f"block p50 {a:.3f} ms p99 {b:.3f} ms (CPU {c50:.3f} / {c99:.3f}), "
                f"{perf() - started:4.0f} s wall"
            )
    wall = perf() - started
    _, types_end = _live_objects()
    types_end["Counter"] -= 1  # types_start itself
    grown = (types_end - types_start).most_common(5)  # positive differences only
    player.stop()
    player.close()
    return SoakResult(
        entries=len(corpus),
        minutes=minutes,
        warmup_s=warmup_s,
        block=BLOCK,
        sr_hz=sr,
        wall_s=wall,
        rss_mib=rss,
        objects=objects,
        p50_ms=p50,
        p99_ms=p99,
        max_ms=worst,
        cpu_p50_ms=cpu_p50,
        cpu_p99_ms=cpu_p99,
        grown_types=grown,
        counters={
            "decisions": int(counters[DECISIONS]),
            "jumps": int(counters[JUMPS]),
            **seen,
            "continuations": seen["open_decisions"] - int(counters[JUMPS]),
            "late_grains": int(counters[LATE_GRAINS]),
            "dropped_blocks": int(counters[DROPPED_BLOCKS]),
            "callback_errors": int(counters[CALLBACK_ERRORS]),
        },
    )


def summary(r: SoakResult) -> list[str]:
    """The human-readable report, one line per figure."""
    period_ms = r.block / r.sr_hz * 1e3
    c = r.counters
    grown = ", ".join(f"{name} +{n}" for name, n in r.grown_types) or "none"
    return [
        f"soak: {r.minutes} simulated min (+{r.warmup_s:.0f} s warm-up) of varied input "
        f"through LivePlayer (worker matcher, {r.block}-frame blocks at {r.sr_hz} Hz, no "
        f"device) on {r.entries:,} entries",
        f"wall {r.wall_s:.0f} s: {r.speed:.1f}x real time",
        f"resident memory: start {r.rss_mib[0]:.1f} MiB, end {r.rss_mib[-1]:.1f} MiB, "
        f"max {max(r.rss_mib):.1f} MiB; end - start {r.rss_mib[-1] - r.rss_mib[0]:+.1f} MiB, "
        f"fitted growth {r.rss_growth_mib_per_h:+.2f} MiB/h",
        f"per-block time (process + match_pending; block period {period_ms:.2f} ms): "
        f"first minute p50 {r.p50_ms[0]:.3f} ms p99 {r.p99_ms[0]:.3f} ms, "
        f"last minute p50 {r.p50_ms[-1]:.3f} ms p99 {r.p99_ms[-1]:.3f} ms; "
        f"worst block {max(r.max_ms):.2f} ms",
        f"per-block CPU time of the thread: first minute p50 {r.cpu_p50_ms[0]:.3f} ms p99 "
        f"{r.cpu_p99_ms[0]:.3f} ms, last minute p50 {r.cpu_p50_ms[-1]:.3f} ms p99 "
        f"{r.cpu_p99_ms[-1]:.3f} ms",
        f"live Python objects (after gc.collect): start {r.objects[0]}, end {r.objects[-1]} "
        f"({r.objects[-1] - r.objects[0]:+d}); grew most: {grown}",
        f"decisions {c['decisions']} ({c['open_decisions']} with the gate open), jumps "
        f"{c['jumps']}, continuations {c['continuations']}, gate closings {c['gate_closings']}, "
        f"picture changes {c['picture_changes']}",
        f"late grains {c['late_grains']}, dropped blocks {c['dropped_blocks']}, callback errors "
        f"{c['callback_errors']}, blocks with non-finite output {c['bad_output']}",
    ]


def soak_corpus(work: Path, entries: int) -> Path:
    """The synthetic corpus of ``entries`` (made once, about 20 s for 100,000; the 1M one
    is shared with the open and live benchmarks)."""
    from synthetic import write_synthetic_corpus

    name = "synthetic-1m" if entries == 1_000_000 else f"synthetic-{entries}"
    return write_synthetic_corpus(work / name, entries=entries)


def bench_soak(
    work: Path, *, minutes: int = 60, entries: int = 100_000, corpus: Path | None = None
) -> list[tuple[str, str]]:
    """bench/run.py's ``soak`` section: prints the report, returns the summary rows."""
    opened = Corpus.open(corpus if corpus is not None else soak_corpus(work, entries))
    r = run_soak(opened, minutes=minutes, log=print)
    for line in summary(r):
        print(line, flush=True)
    return [
        (f"soak {r.minutes} min, x real time", f"{r.speed:.1f}"),
        (
            "soak resident memory start / end / max",
            f"{r.rss_mib[0]:.0f} / {r.rss_mib[-1]:.0f} / {max(r.rss_mib):.0f} MiB",
        ),
        ("soak resident memory growth (fitted)", f"{r.rss_growth_mib_per_h:+.2f} MiB/h"),
        (
            "soak block p50/p99, first minute",
            f"{r.p50_ms[0]:.3f} / {r.p99_ms[0]:.3f} ms",
        ),
        ("soak block p50/p99, last minute", f"{r.p50_ms[-1]:.3f} / {r.p99_ms[-1]:.3f} ms"),
        (
            "soak block CPU p50/p99, first / last minute",
            f"{r.cpu_p50_ms[0]:.3f} / {r.cpu_p99_ms[0]:.3f}, "
            f"{r.cpu_p50_ms[-1]:.3f} / {r.cpu_p99_ms[-1]:.3f} ms",
        ),
        ("soak live Python objects, end - start", f"{r.objects[-1] - r.objects[0]:+d}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="simulated minutes (60)")
    parser.add_argument(
        "--entries", type=int, default=100_000, help="synthetic corpus size (100000)"
    )
    parser.add_argument(
        "--corpus", type=Path, default=None, help="soak this corpus instead of a synthetic one"
    )
    parser.add_argument("--work", type=Path, default=WORK, help="where corpora are kept")
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.entries < 1:
        parser.error("--minutes and --entries must be >= 1")
    args.work.mkdir(exist_ok=True)
    bench_soak(args.work, minutes=args.minutes, entries=args.entries, corpus=args.corpus)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
