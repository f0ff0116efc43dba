"""Live benchmarks, through a real JACK server (dummy backend, 256 frames at 48 kHz).

- callback time p50/p99 as a fraction of the block period, on a 1,000,000-entry corpus, while
  another thread decodes and letterboxes images non-stop (a busy display);
- index query p50/p99 on that corpus;
- onset-to-grain latency: an onset played into livecat, the first grain sample recorded out,
  beside a plain pass-through JACK client measured the same way in the same run;
- xruns during a run of livecat vs. the pass-through client;
- picture latency: a block's arrival to its picture being shown, p50/p99.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

SR = 48000
BLOCK = 256


def _onset_latency(server: str, connect_prefix: str, *, trials: int = 8) -> list[float]:
    """Play silence then a loud burst into ``connect_prefix``'s input; seconds until the
    output first rises above a threshold, per trial."""
    import livehelpers

    rng = np.random.default_rng(0)
    burst = np.concatenate(
        [
            np.zeros(SR // 2, np.float32),
            (0.5 * rng.standard_normal(SR // 4)).astype(np.float32),
            np.zeros(SR // 2, np.float32),
        ]
    )
    client = livehelpers.PlayRecord(server, burst, record_s=trials * 2.0 + 2)
    client.connect_to(connect_prefix)
    out = []
    try:
        for _ in range(trials):
            time.sleep(0.3)
            rec_start = client.rec_pos
            client.play_started_frame = -1
            client.play_pos = 0
            time.sleep(burst.size / SR + 0.2)
            played_at = client.play_started_frame - client.first_frame + SR // 2
            recorded = client.recorded[rec_start : client.rec_pos]
            offset = played_at - rec_start
            loud = np.flatnonzero(np.abs(recorded[max(offset, 0) :]) > 0.02)
            if loud.size:
                out.append(loud[0] / SR)
    finally:
        client.close()
    return out


def _passthrough(server: str):
    import jack

    client = jack.Client("passthrough", servername=server, no_start_server=True)
    inp = client.inports.register("in_0")
    outp = client.outports.register("out_0")
    xruns = [0]

    @client.set_process_callback
    def process(frames: int) -> None:
        outp.get_array()[:] = inp.get_array()

    @client.set_xrun_callback
    def xrun(delay: float) -> None:
        xruns[0] += 1

    client.activate()
    return client, xruns


FEEDER = """
import sys, time
sys.path.insert(0, {tests!r})
import numpy as np, livehelpers
sound = np.random.default_rng(3).standard_normal(48000 * int({seconds} + 1)).astype(np.float32)
client = livehelpers.PlayRecord({server!r}, 0.2 * sound, record_s=1.0)
client.connect_to("PortAudio")
client.play()
time.sleep({seconds})
client.close()
"""


def _feeder_process(server: str, seconds: float):
    """A separate process playing noise into livecat's input for ``seconds``."""
    import subprocess

    code = FEEDER.format(tests=str(HERE.parent / "tests"), seconds=seconds, server=server)
    return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)


def _busy_display(corpus, stop: threading.Event, shown: list[int], *, fps: float) -> None:
    """What a busy display does: a new image decoded and letterboxed to 1280x720 at ``fps``
    (0: non-stop, a worst case no real display reaches)."""
    from livecat.media.images import letterbox

    canvas = np.zeros((720, 1280, 3), np.uint8)
    i = 0
    next_t = time.perf_counter()
    while not stop.is_set():
        letterbox(corpus.image(i % len(corpus)), width=1280, height=720, out=canvas)
        i += 7919
        shown[0] += 1
        if fps:
            next_t += 1.0 / fps
            time.sleep(max(0.0, next_t - time.perf_counter()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xrun-seconds", type=float, default=60.0)
    parser.add_argument(
        "--display-fps",
        type=float,
        default=60.0,
        help="images the busy display thread decodes per second (0: non-stop)",
    )
    args = parser.parse_args(argv)
    import livehelpers

    missing = livehelpers.missing_tools()
    if missing:
        print(f"live benchmark skipped: needs {', '.join(missing)}")
        return 0
    from synthetic import write_synthetic_corpus

    from livecat.corpus import Corpus
    from livecat.live import LivePlayer, LiveSettings
    from livecat.output import Display, DisplaySettings
    from livecat.synthesis import EngineSettings

    work = HERE.parent / ".bench-work"
    corpus = Corpus.open(write_synthetic_corpus(work / "synthetic-1m", entries=1_000_000))
    block_s = BLOCK / SR

    # Index queries alone.
    vectors = corpus.normalise(np.asarray(corpus.descriptors[::997][:2000]))
    noisy = vectors + 0.3 * np.random.default_rng(1).standard_normal(vectors.shape).astype(
        np.float32
    )
    times = []
    for q in noisy:
        t = time.perf_counter()
        corpus.index.knn_query(q[None, :], k=10)
        times.append(time.perf_counter() - t)
    q50, q99 = np.percentile(times, [50, 99]) * 1000
    print(
        f"query on {len(corpus)} entries (k=10, ef={corpus.index_settings.ef}): "
        f"p50 {q50:.3f} ms, p99 {q99:.3f} ms (goal p99 <= 0.5 ms)"
    )

    server = f"livecat-bench-{os.getpid()}"
    results = {}
    with livehelpers.jack_server(server) as env:
        os.environ.update(env)
        # Pass-through first: its latency and xruns are the floor.
        client, pt_xruns = _passthrough(server)
        pt_latency = _onset_latency(server, "passthrough")
        time.sleep(min(args.xrun_seconds, 60.0) if args.xrun_seconds else 0)
        results["pt_xruns"] = pt_xruns[0]
        client.deactivate()
        client.close()

        sound = np.random.default_rng(2).standard_normal(SR * 600).astype(np.float32) * 0.1
        del sound
        player = LivePlayer(
            corpus,
            engine_settings=EngineSettings(gate_db=-50),
            settings=LiveSettings(blocksize=BLOCK),
        )
        player.start()
        stop = threading.Event()
        shown = [0]
        busy = threading.Thread(
            target=_busy_display,
            args=(corpus, stop, shown),
            kwargs={"fps": args.display_fps},
            daemon=True,
        )
        busy.start()
        try:
            lc_latency = _onset_latency(server, "PortAudio")
            # Feed noise from another process (a JACK client in this one would compete for
            # the GIL with livecat's callback and inflate what is measured) while the
            # display thread is busy.
            feeder = _feeder_process(server, args.xrun_seconds + 1)
            time.sleep(1.0)
            xruns_before = player.xruns()
            first_callback = int(player.counters[0])
            time.sleep(args.xrun_seconds)
            last_callback = int(player.counters[0])
            feeder.wait(timeout=30)
            lc_xruns = player.xruns() - xruns_before
            slots = (
                np.arange(max(first_callback, last_callback - player.TIMING_SLOTS), last_callback)
                % player.TIMING_SLOTS
            )
            p50, p99 = np.percentile(player.callback_s[slots], [50, 99])
            # Picture latency: the display loop in headless mode, same process.
            display = Display(
                corpus, player, settings=DisplaySettings(headless=True, duration_s=5.0)
            )
            feeder = _feeder_process(server, 6.0)
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                display.run()
            feeder.wait(timeout=30)
            pictures = np.array(display.picture_latency_s) * 1000
        finally:
            stop.set()
            player.stop()
            from livecat.live.devices import sounddevice

            sounddevice()._terminate()  # before jackd goes, or PortAudio asserts at exit
    lc = np.median(lc_latency) * 1000 if lc_latency else float("nan")
    pt = np.median(pt_latency) * 1000 if pt_latency else float("nan")
    print(
        f"callback with a busy display thread ({shown[0]} images decoded meanwhile): "
        f"p50 {p50 / block_s:.1%}, p99 {p99 / block_s:.1%} of the {block_s * 1000:.2f} ms "
        f"block (goal p99 <= 25%)"
    )
    print(
        f"onset-to-grain latency: livecat {lc:.1f} ms, pass-through {pt:.1f} ms, "
        f"difference {lc - pt:+.1f} ms (goal <= +25 ms; {len(lc_latency)} trials)"
    )
    print(
        f"xruns in {args.xrun_seconds:.0f} s: livecat {lc_xruns}, pass-through "
        f"{results['pt_xruns']} (goal: none added)"
    )
    if pictures.size:
        print(
            f"picture latency (block arrival to picture shown): p50 "
            f"{np.percentile(pictures, 50):.1f} ms, p99 {np.percentile(pictures, 99):.1f} ms "
            f"over {pictures.size} changes (goal p99 <= 40 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
