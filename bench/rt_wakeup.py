"""Does livecat's own load delay a real-time audio thread, or does the machine?

A C thread at SCHED_FIFO (no Python, as rtmixer's callback or a JACK client's process
thread) wakes every millisecond and records how late it woke. It runs in segments that take
turns: with nothing else to do, beside the live benchmark's busy display in its own process
(a corpus image decoded and letterboxed to 1280x720 60 times a second, as livecat's window
does at most), and beside the same load in another process. If livecat's process hurt its
audio thread (page faults, TLB shoot-downs, memory traffic), the "own process" segments
would be the late ones; if the machine stalls (a VM's vCPU descheduled), lateness comes in
episodes that hit any segment.

    python bench/rt_wakeup.py --seconds 30 --rounds 5      # needs root (or rtprio) and cc
    python bench/rt_wakeup.py --corpus corpora/mine         # default: the demo corpus

The C helper is compiled on the spot with the system C compiler (hnswlib's build needs one
anyway).
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from live_bench import _busy_display_thread, _cpu_times, _steal_percent

DEMO_CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "demo"

PROBE_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
static volatile int running = 0;
static long hist[200];  /* lateness in 0.1 ms bins; the last takes >= 19.9 ms */
static long max_ns = 0;
static pthread_t thread;
static void *loop(void *arg) {
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (running) {
        next.tv_nsec += 1000000;
        if (next.tv_nsec >= 1000000000) { next.tv_nsec -= 1000000000; next.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long late = (now.tv_sec - next.tv_sec) * 1000000000L + (now.tv_nsec - next.tv_nsec);
        if (late < 0) late = 0;
        if (late > max_ns) max_ns = late;
        long bin = late / 100000;
        hist[bin > 199 ? 199 : bin]++;
        if (late > 1000000) next = now;  /* after a stall, do not count its catch-up */
    }
    return 0;
}
int probe_start(int priority) {
    memset(hist, 0, sizeof hist); max_ns = 0; running = 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    struct sched_param sp = { .sched_priority = priority };
    pthread_attr_setschedparam(&attr, &sp);
    return pthread_create(&thread, &attr, loop, 0);
}
void probe_stop(long *out_hist, long *out_max_ns) {
    running = 0;
    pthread_join(thread, 0);
    memcpy(out_hist, hist, sizeof hist);
    *out_max_ns = max_ns;
}
"""


def _compile(directory: Path) -> ctypes.CDLL:
    source, library = directory / "probe.c", directory / "probe.so"
    source.write_text(PROBE_C)
    subprocess.run(
        ["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source), "-lpthread"],
        check=True,
    )
    return ctypes.CDLL(str(library))


FPS = 60.0  # new images a second: what a busy window shows at most


def _segment(
    library: ctypes.CDLL, corpus_dir: Path, where: str, seconds: float, priority: int
) -> dict:
    load = stop = child = None
    if where == "own process":
        from livecat.corpus import Corpus

        load, stop, _ = _busy_display_thread(Corpus.open(corpus_dir), fps=FPS)
        load.start()
    elif where == "another process":
        child = subprocess.Popen(
            [sys.executable, __file__, "--corpus", str(corpus_dir), "--load-only", str(seconds + 3)]
        )
    time.sleep(1.5)  # the load settles (imports, first images)
    cpu = _cpu_times()
    if library.probe_start(priority) != 0:
        raise SystemExit("cannot start a SCHED_FIFO thread: run as root or with rtprio")
    time.sleep(seconds)
    hist = (ctypes.c_long * 200)()
    max_ns = ctypes.c_long()
    library.probe_stop(hist, ctypes.byref(max_ns))
    if load:
        stop.set()
        load.join()
    if child:
        child.wait()
    h = np.array(hist)
    return {
        "over_1ms": int(h[10:].sum()),
        "over_2ms": int(h[20:].sum()),
        "max_ms": max_ns.value / 1e6,
        "steal_pct": _steal_percent(cpu),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per segment")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--priority", type=int, default=70, help="SCHED_FIFO priority")
    parser.add_argument("--corpus", type=Path, default=DEMO_CORPUS, help="whose images to show")
    parser.add_argument("--load-only", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (args.corpus / "manifest.json").exists():
        raise SystemExit(f"{args.corpus}: no corpus here (make demo builds the demo corpus)")
    if args.load_only:  # the other process's load
        from livecat.corpus import Corpus

        load, stop, _ = _busy_display_thread(Corpus.open(args.corpus), fps=FPS)
        load.start()
        time.sleep(args.load_only)
        stop.set()
        load.join()
        return 0
    wheres = ("no load", "own process", "another process")
    results: dict[str, list[dict]] = {w: [] for w in wheres}
    with tempfile.TemporaryDirectory() as tmp:
        library = _compile(Path(tmp))
        for _ in range(args.rounds):
            for where in wheres:
                results[where].append(
                    _segment(library, args.corpus, where, args.seconds, args.priority)
                )
    print(
        f"SCHED_FIFO {args.priority} thread waking every 1 ms, {args.rounds} rounds of "
        f"{args.seconds:.0f} s per segment; the display load: an image of {args.corpus} "
        f"letterboxed to 1280x720 {FPS:.0f} times a second"
    )
    for where, runs in results.items():
        over_2ms = sum(r["over_2ms"] for r in runs)
        latest_ms = max(r["max_ms"] for r in runs)
        label = where if where == "no load" else f"load in {where}"
        print(
            f"  {label:24s} woke > 1 ms late: {[r['over_1ms'] for r in runs]} "
            f"(> 2 ms: {over_2ms}), latest {latest_ms:.2f} ms; hypervisor steal "
            f"{[round(r['steal_pct'], 1) for r in runs]} %"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
