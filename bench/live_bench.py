"""Live benchmarks through a real JACK server (dummy backend, 256 frames at 48 kHz) and a real
window (Xvfb), on a 1,000,000-entry synthetic corpus.

- index query p50/p99;
- callback time p50/p99 as a fraction of the block period, while the display is busy: the
  real display loop shows the pictures in a window on the main thread, and another thread
  decodes and letterboxes a new 1280x720 image 60 times a second (a worst case: a picture
  change on every display tick). Reported as Python entry to exit, and as "from the audio
  cycle's start" (adding the wait for the GIL and for upstream JACK clients);
- onset-to-grain latency: a noise burst played in after silence, the first loud sample
  recorded out; beside a plain pass-through JACK client measured the same way in the same run;
- xruns during a run of ``--xrun-seconds`` (60 for ``make bench``; the issue's figure is
  300) with livecat vs. the pass-through client: blocks PortAudio flagged, and the server's
  own xrun count. The run is cut into ``--rounds`` segments that take turns (pass-through,
  then each livecat configuration, then again), so a noisy minute on a shared machine
  falls on both sides instead of deciding the comparison;
- picture latency: a block's arrival in the callback to its image being shown, p50/p99;
- with ``--transients`` (or alone, ``--transients-only``): onset-to-grain for drum hits and
  noise bursts on the drum corpus of bench/percussion.py, livecat with its default settings
  beside a pass-through client and one delayed by a known amount, all played the same sound at
  once; output onsets found by percussion.py's detector (``--attacks-off-too`` adds livecat
  with ``--attacks 0``, onsets answered by the hop's decisions alone). See
  :func:`bench_live_transients`.

Both matchers are measured: ``worker`` (livecat's default: decisions on a matcher thread, a
one-block hand-off) and ``callback`` (the engine inside the audio callback). Both audio paths
are measured with the worker: ``--audio python`` (a Python PortAudio callback) and ``--audio
rtmixer`` (rtmixer's C callback, a Python feeder thread; its "callback" figures are the
feeder's time per block, off the audio thread). ``--load N`` runs N busy pure-Python
processes at normal priority for the whole run, pass-through included, as a show machine
running other things might: that is where a Python audio callback's GIL waits bite.

Every JACK client used to measure runs in its own process (``--client``), so none of them
competes with livecat for its GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

SR = 48000
BLOCK = 256
ONSET_TRIALS = 8


# -- JACK clients, each run as `python bench/live_bench.py --client ROLE ...` ------------------
def _feed_sound(seconds: float, *, seed: int = 3) -> np.ndarray:
    """Changing input: segments of 60-250 ms of noise or tones at varied levels, so the
    picture changes several times a second."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR), np.float32)
    pos = 0
    t = np.arange(SR // 4) / SR
    while pos < out.size:
        n = min(int(rng.uniform(0.06, 0.25) * SR), out.size - pos)
        level = 10 ** (rng.uniform(-30, -8) / 20)
        if rng.random() < 0.5:
            seg = rng.standard_normal(n)
        else:
            seg = np.sin(2 * np.pi * rng.uniform(110, 1760) * t[:n])
        out[pos : pos + n] = level * seg
        pos += n
    return out


def _client_onset(server: str, prefix: str, trials: int) -> list[float]:
    """Play silence then a loud burst into ``prefix``'s input; seconds until its output
    first rises above a threshold, per trial."""
    import livehelpers

    rng = np.random.default_rng(0)
    silence = np.zeros(SR // 2, np.float32)
    burst = np.concatenate(
        [silence, (0.5 * rng.standard_normal(SR // 4)).astype(np.float32), silence]
    )
    client = livehelpers.PlayRecord(server, burst, record_s=trials * 2.0 + 2)
    client.connect_to(prefix)
    out = []
    try:
        for _ in range(trials):
            time.sleep(0.3)
            client.play_pos = -1  # stopped while the start marks are reset
            client.play_started_frame = client.play_started_rec = -1
            client.play_pos = 0
            time.sleep(burst.size / SR + 0.2)
            # Both marks count recorded samples: skipped cycles cannot skew them.
            onset = client.play_started_rec + silence.size
            loud = np.flatnonzero(np.abs(client.recorded[onset : client.rec_pos]) > 0.02)
            if client.play_started_rec >= 0 and loud.size:
                out.append(loud[0] / SR)
    finally:
        client.close()
    return out


def _client_feed(server: str, prefix: str, seconds: float) -> dict:
    """Play the changing input into ``prefix`` for ``seconds``; count the server's xruns."""
    import livehelpers

    client = livehelpers.PlayRecord(server, _feed_sound(seconds + 1), record_s=1.0)
    client.connect_to(prefix)
    client.play()
    xruns_before, first = client.xruns, client.cycles
    started = time.monotonic()
    time.sleep(seconds)
    last = client.cycles
    client.close()
    ring = client.finished_at
    finished = ring[np.arange(max(first, last - ring.size), last) % ring.size] / BLOCK
    return {
        "server_xruns": client.xruns - xruns_before,
        "xrun_at_s": [round(t - started, 2) for t in client.xrun_times if t >= started],
        "feeder_finished_p50": float(np.percentile(finished, 50)),
        "feeder_finished_p99": float(np.percentile(finished, 99)),
    }


def _client_passthrough(server: str, seconds: float, delay_ms: float = 0.0) -> dict:
    """A plain pass-through JACK client named like PortAudio's, for ``seconds``. With
    ``delay_ms``, named ``delayed-<ms>ms`` and its output that much later: a latency the
    measures must find."""
    import jack

    name = f"delayed-{delay_ms:g}ms" if delay_ms else "passthrough"
    client = jack.Client(name, servername=server, no_start_server=True)
    inp = client.inports.register("in_0")
    outp = client.outports.register("out_0")
    pending = [np.zeros(int(round(delay_ms * SR / 1000)), np.float32)]

    @client.set_process_callback
    def process(frames: int) -> None:
        if not delay_ms:
            outp.get_array()[:] = inp.get_array()
            return
        line = np.concatenate([pending[0], inp.get_array()])
        outp.get_array()[:] = line[:frames]
        pending[0] = line[frames:]

    client.activate()
    print("ready", flush=True)
    parent = os.getppid()
    deadline = time.monotonic() + seconds
    # Until the time is up or the benchmark that started it is gone (it may have died).
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    client.deactivate()
    client.close()
    return {}


def _run_client(role: str, server: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--client", role, "--server", server, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _result(proc: subprocess.Popen, timeout: float) -> dict | list:
    out, _ = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith(("{", "["))]
    return json.loads(lines[-1]) if lines else {}


# -- the busy display ----------------------------------------------------------------------------
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


def _busy_display_thread(corpus, *, fps: float):
    """An unstarted busy-display thread, the event that stops it and its image count."""
    stop, shown = threading.Event(), [0]
    thread = threading.Thread(
        target=_busy_display, args=(corpus, stop, shown), kwargs={"fps": fps}, daemon=True
    )
    return thread, stop, shown


class Harvest:
    """Collects the player's timing rings every few seconds (they hold the last 16384
    blocks, 87 s at 256 frames; runs may be longer)."""

    def __init__(self, player) -> None:
        self.player = player
        self.next = int(player.counters[0])
        self.callback: list[np.ndarray] = []
        self.entry: list[np.ndarray] = []

    def collect(self) -> None:
        p = self.player
        end = int(p.counters[0])
        start = max(self.next, end - p.TIMING_SLOTS + 1)
        slots = np.arange(start, end) % p.TIMING_SLOTS
        self.callback.append(p.callback_s[slots].copy())
        lags = p.entry_lag_s[slots].copy()
        # Entry lag minus its minimum over each 500 blocks: how late after the cycle began
        # Python ran (the JACK and perf_counter clocks drift slowly apart).
        for lo in range(0, lags.size, 500):
            part = lags[lo : lo + 500]
            if part.size:
                self.entry.append(part - part.min())
        self.next = end


def _cpu_times() -> np.ndarray:
    """The machine's CPU time so far by kind (/proc/stat's first line, in clock ticks)."""
    try:
        with open("/proc/stat") as f:
            return np.array(f.readline().split()[1:9], dtype=np.int64)
    except OSError:
        return np.zeros(8, np.int64)


def _steal_percent(before: np.ndarray) -> float:
    """Share of the CPU time since ``before`` that the hypervisor gave to other guests: on a
    shared VM, the xruns no client can prevent."""
    spent = _cpu_times() - before
    return float(100.0 * spent[7] / max(int(spent.sum()), 1))


def _passthrough_segment(server: str, corpus, seconds: float, args) -> dict:
    """The changing input through the pass-through client for ``seconds``, with the same
    display load livecat gets (here in another process than the client: the CPU load
    without the GIL), so the xruns compare like for like."""
    busy, stop, _ = _busy_display_thread(corpus, fps=args.display_fps)
    busy.start()
    try:
        cpu = _cpu_times()
        feed = _result(
            _run_client("feed", server, "--prefix", "passthrough", "--seconds", str(seconds)),
            timeout=seconds + 60,
        )
        return {**feed, "steal_pct": _steal_percent(cpu)}
    finally:
        stop.set()
        busy.join(timeout=5)


def _merged_feed(feeds: list[dict]) -> dict:
    """One feed result from a run's segments: xruns summed (and listed), the feeder's
    finishing times as the median of the segments' p50 and the worst of their p99."""
    xruns = [int(f.get("server_xruns", 0)) for f in feeds]
    return {
        "server_xruns": sum(xruns),
        "per_round": xruns,
        "steal_pct": [round(f.get("steal_pct", 0.0), 1) for f in feeds],
        # Per round, xruns in each 10 s since the segment started: do they cluster early?
        "by_10s": [
            np.bincount((np.array(f.get("xrun_at_s", []), float) // 10).astype(int)).tolist()
            for f in feeds
        ],
        "feeder_finished_p50": float(np.median([f.get("feeder_finished_p50", 0) for f in feeds])),
        "feeder_finished_p99": float(max(f.get("feeder_finished_p99", 0) for f in feeds)),
    }


def _merged_runs(parts: list[dict]) -> dict:
    """One livecat result from its segments: counts summed, timings pooled."""
    return {
        "onset": [t for p in parts for t in p["onset"]],
        "xruns": sum(p["xruns"] for p in parts),
        "late": sum(p["late"] for p in parts),
        "dropped": sum(p["dropped"] for p in parts),
        "callback": np.concatenate([p["callback"] for p in parts]),
        "entry": np.concatenate([p["entry"] for p in parts]),
        "pictures": np.concatenate([p["pictures"] for p in parts]),
        "feed": _merged_feed([p["feed"] for p in parts]),
        "busy_images": sum(p["busy_images"] for p in parts),
    }


def _percent(values: np.ndarray, q: float) -> str:
    return f"{np.percentile(values, q) / (BLOCK / SR):.1%}" if values.size else "n/a"


def _measure_livecat(
    corpus,
    server: str,
    *,
    matcher: str,
    audio: str,
    seconds: float,
    display_fps: float,
    window: bool,
    onset: bool = True,
) -> dict:
    """One livecat run: onset trials (if ``onset``), then ``seconds`` of changing input with
    the display busy; returns the figures."""
    from livecat.live import LivePlayer, LiveSettings
    from livecat.live.player import DROPPED_BLOCKS, LATE_GRAINS
    from livecat.output.display import Display, DisplaySettings
    from livecat.synthesis import EngineSettings

    player = LivePlayer(
        corpus,
        engine_settings=EngineSettings(gate_db=-50),
        settings=LiveSettings(blocksize=BLOCK, matcher=matcher, audio=audio),
    )
    display = Display(
        corpus,
        player,
        settings=DisplaySettings(headless=not window, geometry=(0, 0, 1280, 720)),
    )
    result: dict = {}
    busy, stop, shown = _busy_display_thread(corpus, fps=display_fps)

    def control() -> None:
        try:
            if onset:
                result["onset"] = _result(
                    _run_client("onset", server, "--prefix", "PortAudio"), timeout=60
                )
            else:  # the same settling time the onset trials give the first segment
                result["onset"] = []
                time.sleep(ONSET_TRIALS)
            busy.start()
            cpu = _cpu_times()
            feeder = _run_client("feed", server, "--prefix", "PortAudio", "--seconds", str(seconds))
            time.sleep(1.0)
            harvest = Harvest(player)
            before = {
                "xruns": player.xruns(),
                "late": int(player.counters[LATE_GRAINS]),
                "pictures": len(display.picture_latency_s),
            }
            deadline = time.monotonic() + seconds - 1.5
            while time.monotonic() < deadline:
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
                harvest.collect()
            result["xruns"] = player.xruns() - before["xruns"]
            result["late"] = int(player.counters[LATE_GRAINS]) - before["late"]
            result["dropped"] = int(player.counters[DROPPED_BLOCKS])
            result["callback"] = np.concatenate(harvest.callback)
            result["entry"] = np.concatenate(harvest.entry) if harvest.entry else np.zeros(0)
            result["pictures"] = np.array(display.picture_latency_s[before["pictures"] :])
            result["feed"] = {**_result(feeder, timeout=60), "steal_pct": _steal_percent(cpu)}
            result["busy_images"] = shown[0]
        except Exception as exc:  # reported, not hung
            result["error"] = repr(exc)
        finally:
            display.stop_requested = True

    player.start()
    controller = threading.Thread(target=control, daemon=True)
    controller.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # headless prints every picture
            display.run()
    finally:
        stop.set()
        player.stop()
        controller.join(timeout=5)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def _report(args, *, seconds: float, rounds: int, pt_latency, pt_feed: dict, runs: dict) -> None:
    """Print the live figures."""
    pt = np.median(pt_latency) * 1000 if pt_latency else float("nan")
    print(
        f"jackd {'-R (realtime)' if args.realtime else '--no-realtime'}, dummy backend, "
        f"{BLOCK} frames at {SR} Hz; busy display: {args.display_fps:.0f} new 1280x720 "
        f"images/s; background load: {args.load} busy Python process(es)\n"
        f"pass-through client: onset-to-output {pt:.1f} ms; "
        f"{pt_feed.get('server_xruns')} server xruns in {seconds:.0f} s with the same display "
        f"load (per round: {pt_feed.get('per_round')}; {rounds} rounds taking turns with "
        f"livecat; CPU time stolen by the hypervisor per round: {pt_feed.get('steal_pct')} %)",
        flush=True,
    )
    block_ms = BLOCK / SR * 1000
    for label, r in runs.items():
        lc = np.median(r["onset"]) * 1000 if r["onset"] else float("nan")
        run_s = r["seconds"]
        print(f"\n[{label}]")
        if r["audio"] == "rtmixer":
            print(
                f"feeder (Python, off the audio thread) per block, display busy "
                f"({r['busy_images']} extra images decoded): p50 {_percent(r['callback'], 50)}, "
                f"p99 {_percent(r['callback'], 99)} of the {block_ms:.2f} ms block; the JACK "
                f"feeder client finished at p50 {r['feed'].get('feeder_finished_p50', 0):.1%}, "
                f"p99 {r['feed'].get('feeder_finished_p99', 0):.1%}"
            )
        else:
            total = r["callback"] + r["entry"][: r["callback"].size]
            print(
                f"callback, display busy ({r['busy_images']} extra images decoded): p50 "
                f"{_percent(r['callback'], 50)}, p99 {_percent(r['callback'], 99)} of the "
                f"{block_ms:.2f} ms block (goal p99 <= 25%); from the audio cycle's start "
                f"(GIL wait and the upstream feeder included): p50 {_percent(total, 50)}, p99 "
                f"{_percent(total, 99)}, max {_percent(total, 100)}; the feeder itself "
                f"finished at p50 {r['feed'].get('feeder_finished_p50', 0):.1%}, p99 "
                f"{r['feed'].get('feeder_finished_p99', 0):.1%}"
            )
        print(
            f"onset-to-grain latency: livecat {lc:.1f} ms, pass-through {pt:.1f} ms, "
            f"difference {lc - pt:+.1f} ms (goal <= +25 ms; {len(r['onset'])} trials)"
        )
        print(
            f"xruns in {run_s:.0f} s: livecat {r['xruns']} blocks flagged, "
            f"{r['feed'].get('server_xruns')} server xruns (per round: "
            f"{r['feed'].get('per_round')}); pass-through {pt_feed.get('server_xruns')} server "
            f"xruns in {seconds:.0f} s (goal: none added); late grains {r['late']}, dropped "
            f"blocks {r['dropped']}; server xruns per 10 s of each round: livecat "
            f"{r['feed'].get('by_10s')}, pass-through {pt_feed.get('by_10s')}; CPU time "
            f"stolen by the hypervisor per round: {r['feed'].get('steal_pct')} %"
        )
        pictures = r["pictures"] * 1000
        if pictures.size:
            print(
                f"picture latency (block arrival to image shown in the window): p50 "
                f"{np.percentile(pictures, 50):.1f} ms, p99 {np.percentile(pictures, 99):.1f} "
                f"ms over {pictures.size} changes (goal p99 <= 40 ms)"
            )


# -- transients: drum hits and noise bursts, onset to grain ---------------------------------------
# Isolated hits of the Power kit (the drum benchmark's goal kit) into livecat on the drum
# corpus, then noise bursts after silence. Each hit's latency: its true onset (sample-accurate,
# see _transient_input) to the first onset percussion.detect_onsets finds in the recorded
# output within TRANSIENT_REACH_S. A pass-through client, and one delayed by a known amount (the
# measure must see that amount), are played the same sound at the same time by the same client.
TRANSIENT_REACH_S = 0.15  # no output onset this soon after a hit: a miss
# The detector's 10 ms frames report an onset up to about a frame before its first sample (to
# -9 ms on these hits): the search starts this long before the hit, or a pass-through's
# output, one period late, could be missed.
TRANSIENT_EARLY_S = 0.01
TRANSIENT_GOAL_MS = 15.0  # the goal: livecat <= pass-through + 15 ms
DELAY_MS = 20.0  # the delayed pass-through
BURSTS = 8
TRANSIENT_PREFIXES = ("PortAudio", "passthrough", f"delayed-{DELAY_MS:g}ms")


@dataclass
class TransientInput:
    path: Path  # the sound played, .npy
    onsets_s: np.ndarray  # true onsets
    kinds: list[str]  # per onset: the hit's class, or "burst"


def _power_hits() -> list[tuple[float, int, int]]:
    """6 hits per class 0.65-0.75 s apart ("0.7 s", varied so that hits fall at every phase of
    the engine's 10.7 ms hop and of the detector's 10 ms frames)."""
    import percussion

    return percussion.isolated_hits(
        {c: list(n) for c, n in percussion.CLASS_NOTES.items()},
        per_class=6,
        gap_s=(0.65, 0.75),
        start_s=0.5,
        seed=4,
    )


def _transient_input(work: Path) -> TransientInput:
    """The Power-kit hits (rendered once), then :data:`BURSTS` noise bursts of 0.25 s, each
    after 0.50-0.51 s of silence.

    A hit's true onset is the first sample above -40 dB of its peak in the hit rendered alone
    at the same time: FluidSynth renders a note on the same samples alone or in company (2-5 ms
    after its note-on), while in the sequence the hit before still rings above -40 dB of a soft
    hat. A burst's is its first sample."""
    import mediagen
    import percussion

    d = work / "live-transients"
    d.mkdir(parents=True, exist_ok=True)
    kit = percussion.TARGET_KITS[0][1]
    hits = _power_hits()
    truth_file = d / "power-isolated-onsets.json"
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else {}
    if truth.get("hits") != [list(h) for h in hits]:  # made for other hits: all afresh
        (d / "power-isolated.wav").unlink(missing_ok=True)
        onsets = []
        for hit in hits:
            alone = mediagen.render_drum_hits([hit], kit=kit, path_wav=d / "alone.wav", sr_hz=SR)
            onsets.append(int(np.flatnonzero(np.abs(alone) > 0.01 * np.abs(alone).max())[0]))
        (d / "alone.wav").unlink()
        truth = {"hits": [list(h) for h in hits], "onset_samples": onsets}
        truth_file.write_text(json.dumps(truth))
    drums = percussion._drums_wav(d / "power-isolated.wav", hits, kit)
    rng = np.random.default_rng(0)
    pieces, onsets = [drums], [n / SR for n in truth["onset_samples"]]
    at = drums.size  # ends 1.5 s after the last hit: the cymbals have rung out
    for _ in range(BURSTS):
        # 0.5 s of silence and up to a hop more: bursts at every phase of the engine's hop
        # and the detector's frames, as the hits are.
        gap = SR // 2 + int(rng.integers(0, 512))
        pieces += [np.zeros(gap), 0.5 * rng.standard_normal(SR // 4)]
        onsets.append((at + gap) / SR)
        at += gap + SR // 4
    pieces.append(np.zeros(SR // 2))
    path = d / "played.npy"
    np.save(path, np.concatenate(pieces).astype(np.float32))
    kinds = [percussion.NOTE_CLASS[note] for _, note, _ in hits] + ["burst"] * BURSTS
    return TransientInput(path, np.array(onsets), kinds)


def _client_transients(server: str, prefixes: list[str], sound_path: str, out_path: str) -> dict:
    """Play the sound at ``sound_path`` into every client of ``prefixes`` at once and record
    each one's first output into ``out_path`` (.npy, one row per client): sample i of a row is
    what came out in the cycle that played input sample i, so the rows line up with the input
    and with each other."""
    import jack

    sound = np.load(sound_path)
    client = jack.Client("livecat-transients", servername=server, no_start_server=True)
    out = client.outports.register("out")
    ins = [client.inports.register(f"in_{i}") for i in range(len(prefixes))]
    recorded = np.zeros((len(prefixes), sound.size + SR // 2), np.float32)
    pos = [-1]  # -1: not playing yet
    xruns = [0]

    @client.set_process_callback
    def process(frames: int) -> None:
        buf = out.get_array()
        buf[:] = 0.0
        p = pos[0]
        if p < 0:
            return
        n = max(0, min(frames, sound.size - p))
        buf[:n] = sound[p : p + n]
        n = max(0, min(frames, recorded.shape[1] - p))
        for row, port in zip(recorded, ins, strict=True):
            row[p : p + n] = port.get_array()[:n]
        pos[0] = p + frames

    @client.set_xrun_callback
    def xrun(delay_usecs: float) -> None:
        xruns[0] += 1

    client.activate()
    try:
        deadline = time.monotonic() + 20
        for prefix, inp in zip(prefixes, ins, strict=True):
            while not (
                client.get_ports(f"{prefix}:in", is_audio=True, is_input=True)
                and client.get_ports(f"{prefix}:out", is_audio=True, is_output=True)
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{prefix}'s JACK ports did not appear")
                time.sleep(0.1)
            target_in = client.get_ports(f"{prefix}:in", is_audio=True, is_input=True)[0]
            for other in client.get_all_connections(target_in):  # PortAudio's system links
                client.disconnect(other, target_in)
            client.connect(out, target_in)
            client.connect(client.get_ports(f"{prefix}:out", is_audio=True, is_output=True)[0], inp)
        time.sleep(1.0)  # every client running on silence
        pos[0] = 0
        while pos[0] < recorded.shape[1]:
            time.sleep(0.1)
    finally:
        client.deactivate()
        client.close()
    np.save(out_path, recorded)
    return {"server_xruns": xruns[0]}


@dataclass
class TransientFigures:
    """One client's output against the input's true onsets."""

    latency_s: np.ndarray  # per true onset, averaged over DETECTOR_PHASES (nan: a miss)
    latency_one_s: np.ndarray  # the same from the detector's own frames alone
    doubled: np.ndarray  # per true onset, further output onsets within its reach
    stray_after_s: np.ndarray  # per output onset within no onset's reach: since the last one
    stray_last: np.ndarray  # and which true onset that was (-1: none)
    loud_s: np.ndarray  # per true onset, to the first output sample above 0.02 (nan: none)


# The detector's 10 ms frames quantise an onset to its frame: after silence it is reported
# 1.6 to 11.6 ms before a noise burst's first sample depending on where the burst falls in its
# frame, so a pass-through's 5.3 ms can read as 0 or as 10. Running it again on the output
# shifted by a quarter frame at a time and averaging takes that jitter out (the detector's own
# offset stays: it shows on the input itself).
DETECTOR_PHASES = 4


def _first_onsets(found: np.ndarray, onsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per true onset, the first found onset's lag within reach (nan: none), and the index
    of every found onset within some true onset's reach (-1: none; the first such onset)."""
    lag = np.full(onsets_s.size, np.nan)
    owner = np.full(found.size, -1)
    for i, t in enumerate(onsets_s):
        near = np.flatnonzero((found >= t - TRANSIENT_EARLY_S) & (found <= t + TRANSIENT_REACH_S))
        if near.size:
            lag[i] = found[near[0]] - t
            owner[near[owner[near] < 0]] = i
    return lag, owner


def _transient_figures(out: np.ndarray, onsets_s: np.ndarray) -> TransientFigures:
    """One recorded output against the input's true onsets."""
    import percussion

    frame = int(round(0.01 * SR))  # the detector's hop
    lags = []
    for k in range(DETECTOR_PHASES):
        shift = k * frame // DETECTOR_PHASES
        found = percussion.detect_onsets(np.concatenate([np.zeros(shift, out.dtype), out]))
        lags.append(_first_onsets(found - shift / SR, onsets_s)[0])
    found = percussion.detect_onsets(out)
    latency_one, owner = _first_onsets(found, onsets_s)
    # A miss as the detector alone sees it; otherwise the mean over the phases that found one.
    with np.errstate(invalid="ignore"):
        latency = np.where(np.isnan(latency_one), np.nan, np.nanmean(lags, axis=0))
    found_one = (~np.isnan(latency_one)).astype(int)
    doubled = np.bincount(owner[owner >= 0], minlength=onsets_s.size) - found_one
    loud = np.full(onsets_s.size, np.nan)
    for i, t in enumerate(onsets_s):
        start = int(round(t * SR))
        above = np.flatnonzero(np.abs(out[start : start + int(TRANSIENT_REACH_S * SR)]) > 0.02)
        if above.size:
            loud[i] = above[0] / SR
    stray = found[owner < 0]
    last = np.searchsorted(onsets_s, stray) - 1
    after = np.where(last >= 0, stray - onsets_s[np.maximum(last, 0)], np.inf)
    return TransientFigures(latency, latency_one, doubled, after, last, loud)


def _measure_transients(
    corpus, server: str, played: TransientInput, *, settings, label: str, matcher: str
) -> dict:
    """livecat on ``corpus`` with ``settings``, the pass-through and the delayed pass-through,
    all played the transient input at once; their figures by client."""
    from livecat.live import LivePlayer, LiveSettings
    from livecat.live.player import LATE_GRAINS

    player = LivePlayer(
        corpus,
        engine_settings=settings,
        settings=LiveSettings(blocksize=BLOCK, matcher=matcher),
    )
    out_path = played.path.with_name(f"recorded-{label.replace(' ', '-')}.npy")
    player.start()
    try:
        client = _run_client(
            "transients",
            server,
            *("--prefixes", ",".join(TRANSIENT_PREFIXES)),
            *("--sound", str(played.path), "--out", str(out_path)),
        )
        info = _result(client, timeout=120)
        counts = {"xruns": player.xruns(), "late": int(player.counters[LATE_GRAINS])}
    finally:
        player.stop()
        player.close()
    if not isinstance(info, dict) or "server_xruns" not in info:
        raise RuntimeError("the transient client gave no result")
    recorded = np.load(out_path)
    figures = {
        name: _transient_figures(row, played.onsets_s)
        for name, row in zip(("livecat", "pass-through", "delayed"), recorded, strict=True)
    }
    return {"figures": figures, **counts, **info}


def _ms(values: np.ndarray, q: float) -> float:
    """Percentile ``q`` of the found values, ms (nan when none)."""
    found = values[~np.isnan(values)]
    return float(np.percentile(found, q) * 1000) if found.size else float("nan")


def _difference_ms(figures: dict, mask: np.ndarray, *, one: bool = False) -> tuple[float, ...]:
    """livecat's and the pass-through's p50 and p90 over ``mask``, and the differences (ms);
    ``one``: from the detector's own frames alone."""
    lc, pt = (
        getattr(figures[k], "latency_one_s" if one else "latency_s")[mask]
        for k in ("livecat", "pass-through")
    )
    lc50, lc90, pt50, pt90 = _ms(lc, 50), _ms(lc, 90), _ms(pt, 50), _ms(pt, 90)
    return lc50, lc90, pt50, pt90, lc50 - pt50, lc90 - pt90


def _transient_report(label: str, run: dict, played: TransientInput) -> list[tuple[str, str]]:
    """Print one run's figures; its summary rows."""
    figures: dict[str, TransientFigures] = run["figures"]
    kinds = np.array(played.kinds)
    groups = {"drum hits": kinds != "burst", "bursts": kinds == "burst"}
    names = {
        "input": "input itself",
        "livecat": "livecat",
        "pass-through": "pass-through",
        "delayed": f"pass-through + {DELAY_MS:g} ms",
    }
    print(
        f"\n[{label}] livecat: {run['xruns']} blocks flagged, {run['late']} late grains; "
        f"{run['server_xruns']} server xruns while the sound played"
    )
    print(
        f"  {'onset-to-grain, ms':<34}{'p50':>7}{'p90':>7}{'min':>7}{'max':>7}{'misses':>9}"
        f"{'doubled':>9}   (doubled: more output onsets within {TRANSIENT_REACH_S * 1000:.0f} ms)"
    )
    rows = []
    for group, mask in groups.items():
        for key, name in names.items():
            f = figures[key]
            lat = f.latency_s[mask]
            misses = int(np.isnan(lat).sum())
            print(
                f"  {group + ', ' + name:<34}{_ms(lat, 50):7.1f}{_ms(lat, 90):7.1f}"
                f"{_ms(lat, 0):7.1f}{_ms(lat, 100):7.1f}{f'{misses}/{lat.size}':>9}"
                f"{int(f.doubled[mask].sum()):>9}"
            )
        lc50, lc90, pt50, pt90, d50, d90 = _difference_ms(figures, mask)
        *_, one50, one90 = _difference_ms(figures, mask, one=True)
        delayed = _ms(figures["delayed"].latency_s[mask], 50) - pt50
        met = "met" if max(d50, d90) <= TRANSIENT_GOAL_MS else "not met"
        print(
            f"  {group}: livecat - pass-through p50 {d50:+.1f} ms, p90 {d90:+.1f} ms (goal <= "
            f"+{TRANSIENT_GOAL_MS:g} ms: {met}); from the detector's frames alone {one50:+.1f}, "
            f"{one90:+.1f} ms; the {DELAY_MS:g} ms delayed pass-through reads {delayed:+.1f} ms"
        )
        rows += [
            (f"live {group} onset-to-grain p50 / p90, {label}", f"{lc50:.1f} / {lc90:.1f} ms"),
            (f"live {group} onset-to-grain p50 / p90, pass-through", f"{pt50:.1f} / {pt90:.1f} ms"),
            (
                f"live {group} livecat - pass-through p50 / p90, {label} "
                f"(goal <= +{TRANSIENT_GOAL_MS:g} ms)",
                f"{d50:+.1f} / {d90:+.1f} ms",
            ),
            (
                f"live {group} misses, {label}",
                f"{np.isnan(figures['livecat'].latency_s[mask]).mean():.1%}",
            ),
        ]
    lc, pt = figures["livecat"], figures["pass-through"]
    by_class = ", ".join(
        f"{c} {_ms(lc.latency_s[kinds == c], 50):.1f}"
        for c in dict.fromkeys(k for k in played.kinds if k != "burst")
    )
    slowest = np.argsort(np.nan_to_num(lc.latency_s, nan=np.inf))[::-1][:4]
    burst = groups["bursts"]
    print(
        f"  livecat p50 by class (ms): {by_class}; slowest: "
        + ", ".join(
            f"{kinds[i]} at {played.onsets_s[i]:.2f} s "
            + ("missed" if np.isnan(lc.latency_s[i]) else f"{lc.latency_s[i] * 1000:.1f} ms")
            for i in slowest
        )
        + f"\n  output onsets further than {TRANSIENT_REACH_S * 1000:.0f} ms from any input "
        f"onset, in [150,300), [300,500) and >= 500 ms after the last one: livecat "
        f"{_stray_summary(lc, kinds)}; pass-through {_stray_summary(pt, kinds)}\n"
        f"  bursts, first output sample above 0.02 (the other live onset-to-grain measure): "
        f"livecat p50 {_ms(lc.loud_s[burst], 50):.1f} ms, max {_ms(lc.loud_s[burst], 100):.1f} "
        f"ms; pass-through p50 {_ms(pt.loud_s[burst], 50):.1f} ms"
    )
    return rows


def _stray_summary(f: TransientFigures, kinds: np.ndarray) -> str:
    """A count of output onsets that answer no input onset, by how long after one they come
    and whether that one was a hit or a burst."""
    edges = (TRANSIENT_REACH_S, 0.3, 0.5, np.inf)
    parts = []
    for name, after_burst in (("after hits", False), ("after bursts", True)):
        mask = (f.stray_last >= 0) & (
            (kinds[np.maximum(f.stray_last, 0)] == "burst") == after_burst
        )
        counts, _ = np.histogram(f.stray_after_s[mask], bins=edges)
        parts.append(f"{name} " + " ".join(str(c) for c in counts))
    return f"{f.stray_after_s.size} ({', '.join(parts)})"


def bench_live_transients(
    server: str,
    work: Path,
    *,
    attacks_off: bool,
    realtime: bool = False,
    callback_matcher: bool = False,
) -> list[tuple[str, str]]:
    """The transient section, on a running JACK server (``server``; ``realtime``: run with
    -R); its summary rows. ``attacks_off``: also livecat with ``--attacks 0``;
    ``callback_matcher``: also with ``--matcher callback`` (decisions in the audio callback,
    no hand-off block)."""
    import percussion

    from livecat.corpus import Corpus
    from livecat.synthesis import EngineSettings

    started = time.perf_counter()
    drums = percussion.drum_corpus(work)
    corpus = Corpus.open(drums.path)
    played = _transient_input(work)
    sound = np.load(played.path)
    hit = np.array(played.kinds) != "burst"
    print(
        f"\n== live transients ==\njackd {'-R' if realtime else '--no-realtime'}, dummy "
        f"backend, {BLOCK} frames at {SR} Hz; "
        f"livecat (default settings, worker matcher, no display) on the drum corpus "
        f"({len(corpus)} entries, GM Standard kit); input: {hit.sum()} isolated Power-kit hits "
        f"(6 per class, 0.65-0.75 s apart), then {BURSTS} noise bursts after 0.5 s of silence "
        f"({sound.size / SR:.0f} s), played at once into livecat, a pass-through client and one "
        f"delayed by {DELAY_MS:g} ms.\n"
        f"true onset: a hit's first sample above -40 dB of its peak (rendered alone), a burst's "
        f"first sample; output onset: percussion.detect_onsets, the first from "
        f"{TRANSIENT_EARLY_S * 1000:.0f} ms before to {TRANSIENT_REACH_S * 1000:.0f} ms after, "
        f"its time averaged over {DETECTOR_PHASES} shifts of the output by a fraction of the "
        f"detector's 10 ms frame (a miss: none in the unshifted output). 'input itself': the "
        f"detector's own offset, no client at all",
        flush=True,
    )
    passthroughs = [
        _run_client("passthrough", server, "--seconds", "86400", "--delay-ms", str(delay))
        for delay in (0.0, DELAY_MS)
    ]
    rows = []
    try:
        for p in passthroughs:
            assert p.stdout is not None
            p.stdout.readline()  # "ready"
        runs = [("default", EngineSettings(), "worker")]
        runs += [("attacks 0", EngineSettings(attacks=False), "worker")] if attacks_off else []
        runs += [("matcher callback", EngineSettings(), "callback")] if callback_matcher else []
        own = _transient_figures(sound, played.onsets_s)  # the detector on the input itself
        for label, settings, matcher in runs:
            run = _measure_transients(
                corpus, server, played, settings=settings, label=label, matcher=matcher
            )
            run["figures"]["input"] = own
            rows += _transient_report(label, run, played)
    finally:
        for p in passthroughs:
            p.terminate()
            p.wait(timeout=10)
    print(f"(live transients took {time.perf_counter() - started:.0f} s)")
    return rows


def _print_summary(rows: list[tuple[str, str]]) -> None:
    print("\n== summary ==")
    for key, value in rows:
        print(f"{key:<72} {value}")


def _transients_only(args, work: Path) -> int:
    """The transient section alone: its own JACK server, no X server."""
    import shutil

    import livehelpers

    if shutil.which("jackd") is None:
        print("live transients skipped: needs jackd")
        return 0
    server = f"livecat-bench-{os.getpid()}"
    with livehelpers.jack_server(server, realtime=args.realtime) as env:
        os.environ.update(env)
        from livecat.live.devices import sounddevice

        _print_summary(_transients_as_asked(args, server, work))
        sounddevice()._terminate()  # before jackd goes, or PortAudio asserts at exit
    return 0


def _transients_as_asked(args, server: str, work: Path) -> list[tuple[str, str]]:
    return bench_live_transients(
        server,
        work,
        attacks_off=args.attacks_off_too,
        realtime=args.realtime,
        callback_matcher=args.callback_matcher_too,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xrun-seconds", type=float, default=60.0)
    parser.add_argument(
        "--display-fps",
        type=float,
        default=60.0,
        help="new images the busy display thread decodes per second (0: non-stop)",
    )
    parser.add_argument(
        "--matchers",
        default="worker,callback",
        help="which matchers to measure (the second one runs min(30 s, --xrun-seconds))",
    )
    parser.add_argument(
        "--audios",
        default="python,rtmixer",
        help="which audio paths to measure with the worker matcher (each runs --xrun-seconds)",
    )
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="N busy pure-Python processes at normal priority during the whole run",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="segments the xrun time is cut into, pass-through and livecat taking turns",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run jackd with -R (SCHED_FIFO, as on stage) instead of --no-realtime",
    )
    parser.add_argument(
        "--transients",
        action="store_true",
        help="also measure onset-to-grain for drum hits and noise bursts on the drum corpus",
    )
    parser.add_argument(
        "--transients-only", action="store_true", help="only that (JACK needed, no X server)"
    )
    parser.add_argument(
        "--attacks-off-too",
        action="store_true",
        help="transients: also measure livecat with --attacks 0 (onsets answered by the "
        "hop's decisions alone)",
    )
    parser.add_argument(
        "--callback-matcher-too",
        action="store_true",
        help="transients: also measure livecat with --matcher callback",
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="PortAudio", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--prefixes", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sound", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Every line reaches a log file as printed: the JACK client's teardown has ended this
    # process without Python's exit, losing whatever was still buffered.
    if hasattr(sys.stdout, "reconfigure"):  # a real stream, not a capture
        sys.stdout.reconfigure(line_buffering=True)
    if args.client:
        if args.client == "onset":
            out = _client_onset(args.server, args.prefix, ONSET_TRIALS)
        elif args.client == "feed":
            out = _client_feed(args.server, args.prefix, args.seconds)
        elif args.client == "transients":
            out = _client_transients(args.server, args.prefixes.split(","), args.sound, args.out)
        else:
            out = _client_passthrough(args.server, args.seconds, args.delay_ms)
        print(json.dumps(out), flush=True)
        return 0

    import livehelpers

    work = HERE.parent / ".bench-work"
    if args.transients_only:
        return _transients_only(args, work)

    missing = livehelpers.missing_tools()
    if missing:
        print(f"live benchmark skipped: needs {', '.join(missing)}")
        return 0
    from synthetic import write_synthetic_corpus

    from livecat.corpus import Corpus

    corpus = Corpus.open(write_synthetic_corpus(work / "synthetic-1m", entries=1_000_000))

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
        f"p50 {q50:.3f} ms, p99 {q99:.3f} ms (goal p99 <= 0.5 ms)",
        flush=True,
    )

    server = f"livecat-bench-{os.getpid()}"
    seconds = args.xrun_seconds
    rounds = max(1, args.rounds)
    matchers = [m for m in args.matchers.split(",") if m]
    audios = [a for a in args.audios.split(",") if a]
    # (label, matcher, audio, seconds): the worker with each audio path runs the full time.
    configs = [
        (f"{m} matcher" if a == "python" else f"{m} matcher, --audio {a}", m, a,
         seconds if m == "worker" else min(seconds, 30.0))
        for m in matchers
        for a in (audios if m == "worker" else ["python"])
    ]  # fmt: skip
    display_number = 60 + os.getpid() % 30
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        with (
            livehelpers.jack_server(server, realtime=args.realtime) as env,
            livehelpers.xvfb(display_number, size="1280x720") as x_display,
        ):
            os.environ.update(env)
            os.environ["DISPLAY"] = x_display
            # The pass-through client stays up throughout: its latency and xruns are the floor.
            passthrough = _run_client("passthrough", server, "--seconds", "86400")
            assert passthrough.stdout is not None
            passthrough.stdout.readline()  # "ready"
            pt_latency = _result(
                _run_client("onset", server, "--prefix", "passthrough"), timeout=60
            )
            pt_rounds: list[dict] = []
            segments: dict[str, list[dict]] = {label: [] for label, *_ in configs}
            for round_number in range(rounds):
                pt_rounds.append(_passthrough_segment(server, corpus, seconds / rounds, args))
                for label, matcher, audio, run_s in configs:
                    segments[label].append(
                        _measure_livecat(
                            corpus,
                            server,
                            matcher=matcher,
                            audio=audio,
                            seconds=run_s / rounds,
                            display_fps=args.display_fps,
                            window=True,
                            onset=round_number == 0,
                        )
                    )
            passthrough.terminate()
            passthrough.wait(timeout=10)
            pt_feed = _merged_feed(pt_rounds)
            runs = {}
            for label, _matcher, audio, run_s in configs:
                runs[label] = _merged_runs(segments[label])
                runs[label]["seconds"] = run_s
                runs[label]["audio"] = audio
            from livecat.live.devices import sounddevice

            # Printed before PortAudio lets go of JACK: were that to abort, the figures are out.
            _report(
                args,
                seconds=seconds,
                rounds=rounds,
                pt_latency=pt_latency,
                pt_feed=pt_feed,
                runs=runs,
            )
            if args.transients:
                _print_summary(_transients_as_asked(args, server, work))
            sounddevice()._terminate()  # before jackd goes, or PortAudio asserts at exit
    finally:
        for proc in load:
            proc.kill()
            proc.wait()

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
