"""Does livecat's own load delay a real-time audio thread, or does the machine?

A C thread at SCHED_FIFO (no Python, as rtmixer's callback or a JACK client's process
thread) wakes every millisecond and records how late it woke. It runs in segments that take
turns: with nothing else to do, beside a display-like load in its own process (a 1280x720
JPEG decoded and resized 60 times a second, as livecat's window does), and beside the same
load in another process. If livecat's process hurt its audio thread (page faults, TLB
shoot-downs, memory traffic), the "own process" segments would be the late ones; if the
machine stalls (a VM's vCPU descheduled), lateness comes in episodes that hit any segment.

    python bench/rt_wakeup.py --seconds 30 --rounds 5      # needs root (or rtprio) and cc

The C helper is compiled on the spot with the system C compiler (hnswlib's build needs one
anyway).
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from live_bench import _cpu_times, _steal_percent  # the live benchmark's steal figures

PROBE_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
static volatile int running = 0;
static long hist[200];  /* lateness in 0.1 ms bins; the last takes >= 19.9 ms */
static long max_ns = 0, count = 0;
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
        count++;
        if (late > 1000000) next = now;  /* after a stall, do not count its catch-up */
    }
    return 0;
}
int probe_start(int priority) {
    memset(hist, 0, sizeof hist); max_ns = 0; count = 0; running = 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    struct sched_param sp = { .sched_priority = priority };
    pthread_attr_setschedparam(&attr, &sp);
    return pthread_create(&thread, &attr, loop, 0);
}
void probe_stop(long *out_hist, long *out_max_ns, long *out_count) {
    running = 0;
    pthread_join(thread, 0);
    memcpy(out_hist, hist, sizeof hist);
    *out_max_ns = max_ns;
    *out_count = count;
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


def _display_load(stop: threading.Event, *, fps: float = 60.0) -> None:
    """What livecat's window does at most: a new 1280x720 image decoded and resized."""
    import cv2

    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (1280, 720))
    blobs = [cv2.imencode(".jpg", np.roll(base, 40 * i, axis=1))[1] for i in range(8)]
    next_at = time.perf_counter()
    i = 0
    while not stop.is_set():
        image = cv2.imdecode(blobs[i % len(blobs)], cv2.IMREAD_COLOR)
        cv2.resize(image, (1280, 720), interpolation=cv2.INTER_LINEAR)
        i += 1
        next_at += 1.0 / fps
        wait = next_at - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            next_at = time.perf_counter()


def _segment(library: ctypes.CDLL, where: str, seconds: float, priority: int) -> dict:
    stop = threading.Event()
    load: threading.Thread | None = None
    child: subprocess.Popen | None = None
    if where == "own process":
        load = threading.Thread(target=_display_load, args=(stop,), daemon=True)
        load.start()
    elif where == "another process":
        child = subprocess.Popen([sys.executable, __file__, "--load-only", str(seconds + 3)])
    time.sleep(1.5)  # the load settles (imports, first images)
    cpu = _cpu_times()
    if library.probe_start(priority) != 0:
        raise SystemExit("cannot start a SCHED_FIFO thread: run as root or with rtprio")
    time.sleep(seconds)
    hist = (ctypes.c_long * 200)()
    max_ns, count = ctypes.c_long(), ctypes.c_long()
    library.probe_stop(hist, ctypes.byref(max_ns), ctypes.byref(count))
    stop.set()
    if load:
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
    parser.add_argument("--load-only", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_only:
        stop = threading.Event()
        threading.Timer(args.load_only, stop.set).start()
        _display_load(stop)
        return 0
    wheres = ("no load", "own process", "another process")
    results: dict[str, list[dict]] = {w: [] for w in wheres}
    with tempfile.TemporaryDirectory() as tmp:
        library = _compile(Path(tmp))
        for _ in range(args.rounds):
            for where in wheres:
                results[where].append(_segment(library, where, args.seconds, args.priority))
    print(
        f"SCHED_FIFO {args.priority} thread waking every 1 ms, {args.rounds} rounds of "
        f"{args.seconds:.0f} s per segment; the display load is a 1280x720 image 60 times a second"
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
