"""A flood of valid OSC requests against ``livecat live``: does the show keep its pace?

livecat plays headless through a real JACK server (dummy backend, 256 frames at 48 kHz) on a
looping input file, with ``--config`` (so ``reload_config`` has a set file to read),
``--osc-listen`` and ``--osc-send``. Three runs of the same length:

- **quiet**: no OSC traffic at all;
- **control**: the flood sent to a UDP port nobody listens on (the same sending load on the
  machine, none of it reaching livecat);
- **flood**: the flood sent to livecat.

The flood is valid requests sent as fast as the socket takes them (the network's pace) for
``--seconds``: bundles filled with ``/livecat/action/reload_config`` (each one re-reads the
set file), bundles of ``/livecat/corpus/load`` naming corpora that do not exist (each one a
warning), and bundles of parameter sets. The sender is its own process, so it never holds
the GIL of the process that counts the feedback.

Printed per run: the picture rate while the traffic lasts (``/livecat/status/entry`` is fed
back once per display tick), late grains and xruns (livecat's summary line), the lines
livecat wrote on stderr, and its OSC summary. Goals: the flood's picture rate within 10 % of
the quiet run's, no more late grains than the quiet run, a bounded number of lines.

Run: ``.venv/bin/python bench/osc_flood.py`` (``--work DIR`` keeps the corpus between runs;
``--rounds 3`` takes the three runs in turns three times and compares each kind's median
picture rate and fewest late grains, as a shared machine's other load only ever adds them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

SR = 48000
MAX_DATAGRAM = 8192  # livecat's limit: the fullest bundle a sender can have read


# -- the flood, sent by `python bench/osc_flood.py --sender PORT SECONDS` -----------------------
def _message(address: str, *args: object) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def _bundle(messages: list[bytes]) -> bytes:
    """As many of ``messages`` as fit in one datagram livecat reads (time tag: now)."""
    out = b"#bundle\x00" + struct.pack(">Q", 1)
    for m in messages:
        element = struct.pack(">i", len(m)) + m
        if len(out) + len(element) > MAX_DATAGRAM:
            break
        out += element
    return out


def flood_datagrams() -> list[bytes]:
    """The datagrams the sender cycles through: every one valid OSC that livecat accepts."""
    reloads = _bundle([_message("/livecat/action/reload_config")] * 1000)
    loads = _bundle([_message("/livecat/corpus/load", f"no-such-corpus-{i}") for i in range(400)])
    params = []
    for i in range(400):
        params.append(_message("/livecat/param/continuity", (i % 100) / 100))
        params.append(_message("/livecat/param/volume/norm", (i % 50) / 50))
        params.append(_message("/livecat/param/k", 1 + i % 64))
    sets = _bundle(params)
    singles = [
        _message("/livecat/action/reload_config"),
        _message("/livecat/corpus/load", "nowhere"),
        _message("/livecat/param/no_repeat", 0.7),
    ]
    return [reloads, loads, sets, *singles]


def _sender(port: int, seconds: float) -> dict:
    datagrams = flood_datagrams()
    sent = refused = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            for _ in range(64):  # the clock read once per 64 datagrams
                try:
                    sock.sendto(datagrams[i % len(datagrams)], ("127.0.0.1", port))
                    sent += 1
                except OSError:  # ECONNREFUSED from an earlier datagram (the control run)
                    refused += 1
                i += 1
    return {"sent": sent, "refused": refused}


# -- one run ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ticks:
    """Counts ``/livecat/status/entry`` datagrams (one per display tick) by arrival time."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.times: list[float] = []
        self.first_entry = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        prefix = b"/livecat/status/entry\x00"
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if data.startswith(prefix):
                self.times.append(time.monotonic())
                if struct.unpack(">i", data[-4:])[0] >= 0:
                    self.first_entry.set()

    def rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.times) / (end - start)

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def run(kind: str, *, work: Path, env: dict, seconds: float) -> dict:
    """One run of livecat (``kind``: quiet, control or flood); its figures."""
    ticks = Ticks()
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livecat",
            "live",
            "--config",
            str(work / "set.toml"),
            "--headless",
            "--input-file",
            str(work / "input.wav"),
            "--loop",
            "--duration",
            f"{seconds + 5:g}",
            "--osc-listen",
            f"127.0.0.1:{port}",
            "--osc-send",
            f"127.0.0.1:{ticks.port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,  # headless prints every picture change there
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not ticks.first_entry.wait(30):
            raise RuntimeError(
                "livecat showed nothing: " + (proc.stderr.read() if proc.stderr else "")
            )
        time.sleep(1.0)
        start = time.monotonic()
        sender = None
        if kind != "quiet":
            target = port if kind == "flood" else _free_port()
            sender = subprocess.Popen(
                [sys.executable, __file__, "--sender", str(target), str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
            )
            out, _ = sender.communicate(timeout=seconds + 30)
            sent = json.loads(out.strip().splitlines()[-1])
        else:
            time.sleep(seconds)
            sent = {"sent": 0, "refused": 0}
        end = time.monotonic()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ticks.close()
    (work / f"{kind}.log").write_text(err)  # what livecat wrote, to read afterwards
    if proc.returncode != 0 or "Traceback" in err:
        raise RuntimeError(f"livecat failed ({proc.returncode}): {err[-3000:]}")
    stopped = re.search(r"stopped after [\d.]+ s: .*?(\d+) xruns, (\d+) late grains", err)
    osc = re.search(r"OSC in on \S+: .*", err)
    return {
        "kind": kind,
        "fps": ticks.rate(start, end),
        "xruns": int(stopped[1]) if stopped else -1,
        "late": int(stopped[2]) if stopped else -1,
        "lines": len(err.splitlines()),
        "repeated": err.count("repeated"),
        "osc": osc[0] if osc else "",
        "sent": sent["sent"],
        "seconds": end - start,
    }


def _prepare(work: Path) -> None:
    """A 10 s corpus of varied notes, 8 s of its own sound as the input, and a set file."""
    import mediagen

    from livecat.corpus import Corpus, build_corpus
    from livecat.media import decode_audio

    corpus_dir = work / "corpus"
    if not (corpus_dir / "manifest.json").exists():
        sound = mediagen.varied_notes(10.0, seed=31)
        take = work / "take.mp4"
        mediagen.write_video(take, fps=25, size=(320, 240), duration_s=10.0, audio=sound, sr_hz=SR)
        build_corpus([take], corpus_dir)
    if not (work / "input.wav").exists():
        corpus = Corpus.open(corpus_dir)
        audio = decode_audio(corpus.sources[0].path, sr_hz=SR)[1 * SR : 9 * SR]
        mediagen.write_audio(work / "input.wav", audio, sr_hz=SR)
    # A set as --dump-config writes it: every parameter, so each reload requests them all.
    dumped = subprocess.run(
        [sys.executable, "-m", "livecat", "live", str(corpus_dir), "--dump-config"],
        capture_output=True,
        text=True,
        check=True,
    )
    (work / "set.toml").write_text(dumped.stdout)


def _report(runs: list[dict]) -> None:
    """Each run's figures, then each kind's over its rounds: the median picture rate, the
    fewest late grains and xruns (other programs on a shared machine only ever add them)."""
    for r in runs:
        print(
            f"{r['kind']:8s} pictures {r['fps']:5.1f}/s over {r['seconds']:.1f} s, "
            f"late grains {r['late']}, xruns {r['xruns']}, lines on stderr {r['lines']} "
            f"({r['repeated']} saying 'repeated'), datagrams sent {r['sent']}"
        )
        if r["osc"]:
            print(f"         {r['osc']}")
    by: dict[str, dict] = {}
    for kind in dict.fromkeys(r["kind"] for r in runs):
        mine = [r for r in runs if r["kind"] == kind]
        by[kind] = {
            "fps": statistics.median(r["fps"] for r in mine),
            "late": min(r["late"] for r in mine),
            "xruns": min(r["xruns"] for r in mine),
            "lines": max(r["lines"] for r in mine),
        }
        b = by[kind]
        print(
            f"{kind:8s} over {len(mine)} rounds: pictures {b['fps']:.1f}/s (median), late "
            f"grains {b['late']}, xruns {b['xruns']} (fewest), lines {b['lines']} (most)"
        )
    quiet, flood = by.get("quiet"), by.get("flood")
    if quiet and flood:
        ratio = flood["fps"] / quiet["fps"] if quiet["fps"] else 0.0
        print(
            f"flood vs quiet: pictures {100 * ratio:.0f} % (goal >= 90 %), late grains "
            f"{flood['late']} vs {quiet['late']} (goal: not above), lines {flood['lines']} vs "
            f"{quiet['lines']} (goal: bounded)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the flood")
    parser.add_argument(
        "--runs", default="quiet,control,flood", help="which runs, in order (quiet,control,flood)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="the runs this many times, taking turns"
    )
    parser.add_argument("--work", type=Path, help="keep the corpus here (default: a temporary)")
    parser.add_argument("--sender", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sender:
        print(json.dumps(_sender(int(args.sender[0]), float(args.sender[1]))), flush=True)
        return 0

    import livehelpers

    if livehelpers.missing_tools()[:1] == ["jackd"]:
        print("OSC flood benchmark skipped: needs jackd")
        return 0
    with tempfile.TemporaryDirectory(prefix="livecat-osc-flood-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        _prepare(work)
        runs = []
        with livehelpers.jack_server(f"livecat-flood-{os.getpid()}") as env:
            for _ in range(max(1, args.rounds)):
                for kind in args.runs.split(","):
                    runs.append(run(kind, work=work, env=env, seconds=args.seconds))
                    print(json.dumps(runs[-1]), flush=True)
        _report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
